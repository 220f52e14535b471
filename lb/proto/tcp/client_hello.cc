#include "lb/proto/tcp/client_hello.h"

#include <array>
#include <cstring>

namespace lb::proto::tcp {

namespace {

constexpr std::uint8_t record_handshake = 0x16;
constexpr std::uint8_t handshake_client_hello = 1;
constexpr std::size_t record_header = 5;
constexpr std::size_t max_record = 16384;  // TLSPlaintext.length (RFC 8446 5.1)
constexpr std::uint16_t ext_server_name = 0;
constexpr std::uint16_t ext_alpn = 16;

// Big-endian reads over a bounded span; any read past the end marks it bad.
struct cursor {
  const std::uint8_t* p;
  std::size_t left;
  bool bad = false;

  bool take(std::size_t n) {
    if (n > left) {
      bad = true;
      return false;
    }
    return true;
  }
  std::uint32_t u8() {
    if (!take(1)) return 0;
    --left;
    return *p++;
  }
  std::uint32_t u16() {
    const auto hi = u8();
    return hi << 8 | u8();
  }
  // The next `n` bytes as their own cursor, skipped here.
  cursor sub(std::size_t n) {
    if (!take(n)) return {p, 0, true};
    cursor c{p, n};
    p += n;
    left -= n;
    return c;
  }
};

bool host_char(std::uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

bool read_server_name(cursor ext, client_hello& out) {
  auto list = ext.sub(ext.u16());
  if (ext.bad || ext.left != 0 || list.left == 0) return false;
  while (list.left != 0) {
    const auto type = list.u8();
    auto name = list.sub(list.u16());
    if (list.bad) return false;
    if (type != 0) continue;  // only host_name (0) is defined
    if (!out.sni.empty() || name.left == 0 || name.left > 255) return false;
    std::size_t n = name.left;
    if (name.p[n - 1] == '.') --n;  // "example.com." is "example.com"
    // An empty label (".example.com", "a..b", "a..") names no host; it could
    // only fool the wildcard lookup.
    if (n == 0 || name.p[0] == '.' || name.p[n - 1] == '.') return false;
    out.sni.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto c = name.p[i];
      if (!host_char(c) || (c == '.' && name.p[i - 1] == '.')) return false;
      out.sni[i] = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
  }
  return true;
}

bool read_alpn(cursor ext, client_hello& out) {
  auto list = ext.sub(ext.u16());
  if (ext.bad || ext.left != 0 || list.left == 0) return false;
  const auto* begin = list.p;
  const auto size = list.left;
  while (list.left != 0) {
    const auto n = list.u8();
    list.sub(n);
    if (n == 0 || list.bad) return false;
  }
  out.alpn.assign(reinterpret_cast<const char*>(begin), size);
  return true;
}

// The handshake message body after its 4-byte header (RFC 8446 4.1.2).
bool read_body(cursor c, client_hello& out) {
  c.u16();  // legacy_version
  c.sub(32);  // random
  const auto sid = c.u8();
  if (sid > 32) return false;
  c.sub(sid);
  const auto suites = c.u16();
  if (suites < 2 || suites % 2 != 0) return false;
  c.sub(suites);
  const auto compression = c.u8();
  if (compression < 1) return false;
  c.sub(compression);
  if (c.bad) return false;
  if (c.left == 0) return true;  // no extensions at all (SSL 3 era clients)
  auto exts = c.sub(c.u16());
  if (c.bad || c.left != 0) return false;
  bool seen_sni = false, seen_alpn = false;
  while (exts.left != 0) {
    const auto type = exts.u16();
    auto data = exts.sub(exts.u16());
    if (exts.bad) return false;
    if (type == ext_server_name) {
      if (seen_sni || !read_server_name(data, out)) return false;
      seen_sni = true;
    } else if (type == ext_alpn) {
      if (seen_alpn || !read_alpn(data, out)) return false;
      seen_alpn = true;
    }
  }
  return true;
}

}  // namespace

bool client_hello::offers(std::string_view protocol) const {
  std::string_view list = alpn;
  while (!list.empty()) {
    const auto n = static_cast<std::uint8_t>(list[0]);
    if (list.size() < 1u + n) return false;
    if (list.substr(1, n) == protocol) return true;
    list.remove_prefix(1u + n);
  }
  return false;
}

hello_status parse_client_hello(std::string_view wire, client_hello& out) {
  const auto* w = reinterpret_cast<const std::uint8_t*>(wire.data());
  // Enough of the first record header to tell TLS from anything else.
  if (wire.empty()) return hello_status::incomplete;
  if (w[0] != record_handshake) return hello_status::not_tls;
  if (wire.size() >= 2 && w[1] != 3) return hello_status::not_tls;
  if (wire.size() >= 3 && w[2] > 4) return hello_status::not_tls;

  // The handshake message, joined from the fragments of whole records.
  std::array<std::uint8_t, max_client_hello> msg;
  std::size_t have = 0;
  std::size_t need = 0;  // the whole message's size, once its header is in
  std::size_t pos = 0;
  for (;;) {
    if (wire.size() - pos < record_header)
      return pos + record_header > max_client_hello_wire ? hello_status::too_large : hello_status::incomplete;
    const auto* h = w + pos;
    const std::size_t len = static_cast<std::size_t>(h[3]) << 8 | h[4];
    // Records after the first carry the rest of the hello: handshake type only.
    if (h[0] != record_handshake || h[1] != 3 || h[2] > 4 || len == 0 || len > max_record)
      return hello_status::malformed;
    if (pos + record_header + len > max_client_hello_wire) return hello_status::too_large;
    if (wire.size() - pos - record_header < len) return hello_status::incomplete;
    const std::size_t want = need ? need - have : max_client_hello - have;
    const std::size_t copy = len < want ? len : want;
    std::memcpy(msg.data() + have, h + record_header, copy);
    have += copy;
    pos += record_header + len;
    if (!need && have >= 4) {
      if (msg[0] != handshake_client_hello) return hello_status::malformed;
      need = 4 + (static_cast<std::size_t>(msg[1]) << 16 | static_cast<std::size_t>(msg[2]) << 8 | msg[3]);
      if (need > max_client_hello) return hello_status::too_large;
      if (have > need) have = need;  // another message after it in the record: not ours
    }
    if (need && have >= need) break;
    if (!need && have == max_client_hello) return hello_status::too_large;
  }
  out.sni.clear();
  out.alpn.clear();
  out.wire_length = pos;
  if (!read_body(cursor{msg.data() + 4, need - 4}, out)) {
    out.sni.clear();
    out.alpn.clear();
    return hello_status::malformed;
  }
  return hello_status::complete;
}

}  // namespace lb::proto::tcp
