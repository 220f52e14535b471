// An HTTP/2 origin for lb's h2/h2c pools (Node's http2 module: nghttp2, as a
// real server). Prints {"port": N} once listening. Options:
//   --tls CERT KEY        h2 over TLS (ALPN h2 only), else h2c
//   --tls-h1 CERT KEY     an HTTPS/1.1 server that offers no h2 (ALPN http/1.1)
//   --name NAME           sent back as x-origin
//   --max-streams N       SETTINGS_MAX_CONCURRENT_STREAMS
//   --goaway-after N      on each connection, after its Nth request: GOAWAY
//                         naming that stream as the last (later ones refused)
//   --refuse-every N      every Nth request (of all) is reset with
//                         REFUSED_STREAM as its HEADERS arrive, body unread
// Paths: /stats (JSON: connections, peak streams on one connection, requests),
// /echo (the request body back, request fields as x-req-*), /slow?ms=N,
// /trailers (a body, then trailers), /big?n=BYTES, /status?code=N.
'use strict';
const http2 = require('http2');
const fs = require('fs');

const args = process.argv.slice(2);
const opt = (name, n = 1) => {
  const i = args.indexOf(name);
  return i < 0 ? null : args.slice(i + 1, i + 1 + n);
};
const name = (opt('--name') || ['origin'])[0];
const maxStreams = opt('--max-streams');
const goawayAfter = opt('--goaway-after');
const refuseEvery = opt('--refuse-every');
const tls = opt('--tls', 2);
const tlsH1 = opt('--tls-h1', 2);

const settings = {};
if (maxStreams) settings.maxConcurrentStreams = Number(maxStreams[0]);
if (tlsH1) {
  const https = require('https');
  const s = https.createServer({cert: fs.readFileSync(tlsH1[0]), key: fs.readFileSync(tlsH1[1]),
                                ALPNProtocols: ['http/1.1']}, (req, res) => res.end('http/1.1 only\n'));
  s.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({port: s.address().port}) + '\n'));
  process.on('SIGTERM', () => process.exit(0));
  return;
}
const server = tls
  ? http2.createSecureServer({cert: fs.readFileSync(tls[0]), key: fs.readFileSync(tls[1]), settings})
  : http2.createServer({settings});

const stats = {connections: 0, closed: 0, peak_streams: 0, requests: 0, goaways: 0, refused: 0};
server.on('session', (session) => {
  stats.connections++;
  session.on('close', () => { stats.closed++; });
  session.open = 0;
  session.served = 0;
  session.on('error', () => {});
});

server.on('stream', (stream, headers) => {
  const session = stream.session;
  session.open++;
  session.served++;
  stats.requests++;
  stats.peak_streams = Math.max(stats.peak_streams, session.open);
  stream.on('close', () => { session.open--; });
  stream.on('error', () => {});
  if (refuseEvery && stats.requests % Number(refuseEvery[0]) === 0) {
    // RFC 9113 §8.7: refused before any processing; the client may retry it.
    stats.refused++;
    stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    return;
  }
  if (goawayAfter && session.served === Number(goawayAfter[0])) {
    stats.goaways++;
    // Streams above this one were never processed: the client retries them.
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
  }
  const url = new URL(headers[':path'], 'http://x');
  const base = {'x-origin': name};
  switch (url.pathname) {
    case '/stats':
      stream.respond({':status': 200, 'content-type': 'application/json', ...base});
      stream.end(JSON.stringify(stats));
      return;
    case '/slow': {
      const ms = Number(url.searchParams.get('ms') || 100);
      stream.resume();
      setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({':status': 200, ...base});
        stream.end('slow ' + ms);
      }, ms);
      return;
    }
    case '/trailers':
      stream.respond({':status': 200, 'content-type': 'text/plain', ...base}, {waitForTrailers: true});
      stream.on('wantTrailers', () => stream.sendTrailers({'x-checksum': 'abc123', 'x-count': '2'}));
      stream.write('part one\n');
      stream.end('part two\n');
      return;
    case '/big': {
      const n = Number(url.searchParams.get('n') || 0);
      stream.respond({':status': 200, 'content-length': String(n), ...base});
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let left = n;
      const pump = () => {
        while (left > 0) {
          const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= piece.length;
          if (!stream.write(piece)) return stream.once('drain', pump);
        }
        stream.end();
      };
      pump();
      return;
    }
    case '/status':
      stream.respond({':status': Number(url.searchParams.get('code') || 200), ...base});
      stream.end();
      return;
    default: {  // /echo and anything else: the body back, the request described
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        if (stream.destroyed) return;  // refused by a GOAWAY, or reset
        const body = Buffer.concat(chunks);
        const fields = {};
        for (const [k, v] of Object.entries(headers)) fields['x-req-' + k.replace(/^:/, 'pseudo-')] = String(v);
        stream.respond({':status': 200, 'content-length': String(body.length), ...base, ...fields});
        stream.end(body);
      });
    }
  }
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({port: server.address().port}) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
