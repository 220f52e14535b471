// Requests Node's http2 client makes for the tests: prints one JSON line.
//   node client.js connect PORT     CONNECT (lb refuses it: 501)
//   node client.js bomb PORT N      N copies of one 4000-byte field: HPACK indexes
//                                   it once, so ~4 KB on the wire decode to N*4 KB
'use strict';
const http2 = require('http2');
const [mode, port] = process.argv.slice(2);
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
setTimeout(() => done({ error: 'timeout' }), 10000).unref();

const session = http2.connect(`http://127.0.0.1:${port}`);
session.on('error', (e) => done({ error: String(e) }));
if (mode === 'connect') {
  const req = session.request({ ':method': 'CONNECT', ':authority': 'example.test:443' });
  req.on('response', (h) => { req.resume(); req.on('end', () => { session.close(); done({ status: h[':status'] }); }); });
  req.on('error', (e) => done({ error: String(e) }));
}
if (mode === 'bomb') {
  const n = Number(process.argv[4]);
  const h = { ':path': '/' };
  h['x-bomb'] = Array(n).fill('A'.repeat(4000));
  const req = session.request(h);
  req.on('response', (h) => { req.resume(); req.on('end', () => { session.close(); done({ status: h[':status'] }); }); });
  req.on('error', (e) => done({ error: String(e) }));
  session.on('goaway', (code) => done({ goaway: code }));
}
