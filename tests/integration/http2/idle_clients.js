// node idle_clients.js PORT N PATH: N HTTP/2 prior-knowledge connections, one
// GET of PATH each (50 at a time), then all held open. Prints
// {"ready": N, "bytes": B} once every response is read, and exits on SIGTERM
// or when stdin closes.
const http2 = require('http2');
const [port, n, path] = [process.argv[2], Number(process.argv[3]), process.argv[4] || '/'];
let done = 0, started = 0, bytes = 0;
function one() {
  started++;
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
  const r = s.request({':path': path});
  r.on('data', (d) => { bytes += d.length; });
  r.on('end', () => {
    if (++done === n) console.log(JSON.stringify({ready: n, bytes}));
    else if (started < n) one();
  });
  r.end();
}
for (let i = 0; i < Math.min(50, n); i++) one();
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
