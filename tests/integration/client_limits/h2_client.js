// N sequential GETs on one h2c session from a chosen source address; prints one
// JSON line: [{status, retry_after}, ...] and whether the session stayed open.
//   node h2_client.js PORT SOURCE N [PATH]
'use strict';
const http2 = require('http2');
const [port, source, n, path] = process.argv.slice(2);
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
setTimeout(() => done({ error: 'timeout' }), 10000).unref();

const session = http2.connect(`http://127.0.0.1:${port}`, { localAddress: source });
session.on('error', (e) => done({ error: String(e) }));
let goaway = false;
session.on('goaway', () => { goaway = true; });
const out = [];
const one = () => {
  if (out.length === Number(n)) {
    const open = !session.closed && !session.destroyed && !goaway;
    session.close();
    return done({ responses: out, open });
  }
  const req = session.request({ ':path': path || '/' });
  req.on('response', (h) => {
    req.resume();
    req.on('end', () => { out.push({ status: h[':status'], retry_after: h['retry-after'] || null }); one(); });
  });
  req.on('error', (e) => done({ error: String(e), responses: out }));
};
one();
