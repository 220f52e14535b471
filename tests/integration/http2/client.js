// Requests Node's http2 client makes for the tests: prints one JSON line.
//   node client.js connect PORT     CONNECT (lb refuses it: 501)
//   node client.js bomb PORT N      N copies of one 4000-byte field: HPACK indexes
//                                   it once, so ~4 KB on the wire decode to N*4 KB
//   node client.js post PORT PATH N [declared]  POST of N bytes, with a
//                                   content-length when `declared`, else DATA
//                                   frames alone; prints the status and the body
//   node client.js get PORT PATH HEADERS_JSON   GET with these header fields (an
//                                   array value goes out as several fields, as
//                                   browsers send cookie crumbs); prints the
//                                   status and the body
//   node client.js partial PORT PATH N [K]  K POSTs at once on one connection,
//                                   each sending N of the N+1 body bytes it
//                                   declares: a stream closes only if lb resets
//                                   it once answered; then a GET on the connection
'use strict';
const http2 = require('http2');
const [mode, port] = process.argv.slice(2);
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
setTimeout(() => done({ error: 'timeout' }), 10000).unref();

// Room for a whole large POST body queued at once (Node refuses the stream
// with ENHANCE_YOUR_CALM past maxSessionMemory, 10 MB by default).
const session = http2.connect(`http://127.0.0.1:${port}`, { maxSessionMemory: 256 });
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
if (mode === 'partial') {
  // K at once on one connection, each declaring N+1 bytes; then a GET.
  const [path, n, k] = [process.argv[4], Number(process.argv[5]), Number(process.argv[6] || 1)];
  const out = [];
  const then = () => {
    const get = session.request({ ':path': '/' });
    get.on('response', (h) => { get.resume(); get.on('end', () => { session.close(); done({ answers: out, then: h[':status'] }); }); });
    get.on('error', (e) => done({ error: String(e) }));
  };
  for (let i = 0; i < k; ++i) {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-length': String(n + 1) });
    let status = null;
    req.on('response', (h) => { status = h[':status']; });
    req.resume();
    req.on('error', () => {});  // a reset with an error code: reported by rstCode below
    req.on('close', () => { out.push({ status, rst: req.rstCode }); if (out.length === k) then(); });
    req.write(Buffer.alloc(n, 'x'));
  }
}
if (mode === 'post') {
  // curl 7.88 hangs when the answer ends the stream while its body is still
  // going out (it waits for ever although both sides are closed), so the
  // uploads answered early are made here.
  const [path, n, declared] = [process.argv[4], Number(process.argv[5]), process.argv[6] === 'declared'];
  const h = { ':method': 'POST', ':path': path };
  if (declared) h['content-length'] = String(n);
  const req = session.request(h);
  let status = null;
  let body = '';
  req.on('response', (hs) => { status = hs[':status']; });
  req.setEncoding('utf8');
  req.on('data', (d) => { body += d; });
  req.on('error', () => {});  // a reset with an error code: reported by rstCode below
  req.on('close', () => { session.close(); done({ status, body, rst: req.rstCode }); });
  req.end(Buffer.alloc(n, 'p'));
}
if (mode === 'get') {
  const req = session.request({ ':path': process.argv[4], ...JSON.parse(process.argv[5] || '{}') });
  let status = null;
  let body = '';
  req.on('response', (h) => { status = h[':status']; });
  req.setEncoding('utf8');
  req.on('data', (d) => { body += d; });
  req.on('error', (e) => done({ error: String(e) }));
  req.on('end', () => { session.close(); done({ status, body }); });
}
