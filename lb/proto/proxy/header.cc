#include "lb/proto/proxy/header.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <boost/asio/ip/address.hpp>

#include "lb/core/ip_text.h"

namespace lb::proto::proxy {

namespace ip = boost::asio::ip;

namespace {

constexpr std::string_view v1_prefix = "PROXY ";
constexpr std::size_t v1_max = 107;  // proxy-protocol.txt §2.1, CRLF included
constexpr std::string_view v2_sig_text("\r\n\r\n\0\r\nQUIT\n", 12);

// The next space-separated word of a v1 line; empty at two spaces in a row.
std::string_view next_word(std::string_view& rest) {
  const auto sp = rest.find(' ');
  const auto w = rest.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
  return w;
}

bool parse_port(std::string_view s, std::uint16_t& out) {
  // Decimal, 0..65535, no sign and no leading zero (a single "0" aside).
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > 65535) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

bool parse_ip(std::string_view s, bool v6, ip::address& out) {
  // The v1 grammar has no zone: Asio would take "fe80::1%eth0" (and look the
  // interface up) and hand on an address no v2 header or log can carry.
  if (s.find('%') != std::string_view::npos) return false;
  boost::system::error_code ec;
  const std::string text(s);
  if (v6) out = ip::make_address_v6(text, ec);
  else out = ip::make_address_v4(text, ec);
  return !ec;
}

parse_result parse_v1(std::string_view data, header& out) {
  const auto end = data.substr(0, v1_max).find("\r\n");
  if (end == std::string_view::npos)
    return {data.size() >= v1_max ? parse_status::malformed : parse_status::need_more, 0};
  const parse_result done{parse_status::complete, end + 2};
  std::string_view rest = data.substr(v1_prefix.size(), end - v1_prefix.size());
  const auto proto = next_word(rest);
  if (proto == "UNKNOWN") {  // the rest of the line is ignored
    out = header{};
    out.local = true;
    return done;
  }
  if (proto != "TCP4" && proto != "TCP6") return {parse_status::malformed, 0};
  const bool v6 = proto == "TCP6";
  ip::address src, dst;
  std::uint16_t sport = 0, dport = 0;
  if (!parse_ip(next_word(rest), v6, src) || !parse_ip(next_word(rest), v6, dst) || !parse_port(next_word(rest), sport))
    return {parse_status::malformed, 0};
  const auto last = next_word(rest);
  if (!rest.empty() || !parse_port(last, dport)) return {parse_status::malformed, 0};
  out = header{};
  out.source = endpoint(src, sport);
  out.destination = endpoint(dst, dport);
  return done;
}

std::uint16_t be16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

parse_result parse_v2(std::string_view data, header& out) {
  if (data.size() < 16) return {parse_status::need_more, 0};
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const unsigned version = p[12] >> 4, command = p[12] & 0x0F;
  if (version != 2 || command > 1) return {parse_status::malformed, 0};
  const std::size_t len = be16(p + 14);
  if (16 + len > max_header_size) return {parse_status::malformed, 0};
  if (data.size() < 16 + len) return {parse_status::need_more, 0};
  const unsigned family = p[13] >> 4, transport = p[13] & 0x0F;
  if (family > 3 || transport > 2) return {parse_status::malformed, 0};
  // Address block sizes by family: unspec, inet, inet6, unix.
  static constexpr std::size_t addr_len[] = {0, 12, 36, 216};
  if (len < addr_len[family]) return {parse_status::malformed, 0};
  header h;
  const unsigned char* a = p + 16;
  // LOCAL (health checks of the balancer in front), UNSPEC, UDP and unix
  // sockets keep the connection's own addresses (§2.2).
  h.local = command == 0 || family == 0 || family == 3 || transport != 1;
  if (!h.local && family == 1) {
    ip::address_v4::bytes_type s, d;
    std::memcpy(s.data(), a, 4);
    std::memcpy(d.data(), a + 4, 4);
    h.source = endpoint(ip::address_v4(s), be16(a + 8));
    h.destination = endpoint(ip::address_v4(d), be16(a + 10));
  } else if (!h.local && family == 2) {
    ip::address_v6::bytes_type s, d;
    std::memcpy(s.data(), a, 16);
    std::memcpy(d.data(), a + 16, 16);
    h.source = endpoint(ip::address_v6(s), be16(a + 32));
    h.destination = endpoint(ip::address_v6(d), be16(a + 34));
  }
  // TLVs fill the rest exactly.
  const unsigned char* t = a + addr_len[family];
  const unsigned char* const end = a + len;
  while (t != end) {
    if (end - t < 3) return {parse_status::malformed, 0};
    const std::size_t vlen = be16(t + 1);
    if (static_cast<std::size_t>(end - t - 3) < vlen) return {parse_status::malformed, 0};
    h.tlvs.push_back({t[0], std::string(reinterpret_cast<const char*>(t + 3), vlen)});
    t += 3 + vlen;
  }
  out = std::move(h);
  return {parse_status::complete, 16 + len};
}

// Both ends in one family: IPv4 mapped into IPv6 when they differ.
std::pair<ip::address, ip::address> same_family(const endpoint& src, const endpoint& dst) {
  auto s = src.address(), d = dst.address();
  if (s.is_v6() != d.is_v6()) {
    if (s.is_v4()) s = ip::make_address_v6(ip::v4_mapped, s.to_v4());
    if (d.is_v4()) d = ip::make_address_v6(ip::v4_mapped, d.to_v4());
  }
  return {s, d};
}

void put16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>(v >> 8 & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

}  // namespace

signature starts_like_header(std::string_view data) {
  for (const auto sig : {v1_prefix, v2_sig_text}) {
    const auto n = std::min(data.size(), sig.size());
    if (data.substr(0, n) != sig.substr(0, n)) continue;
    return n == sig.size() ? signature::yes : signature::partial;
  }
  return signature::no;
}

parse_result parse(std::string_view data, header& out) {
  switch (starts_like_header(data)) {
    case signature::no: return {parse_status::malformed, 0};
    case signature::partial: return {parse_status::need_more, 0};
    case signature::yes: break;
  }
  return data[0] == 'P' ? parse_v1(data, out) : parse_v2(data, out);
}

void write_v1(std::string& out, const endpoint& src, const endpoint& dst) {
  const auto [s, d] = same_family(src, dst);
  out += s.is_v6() ? "PROXY TCP6 " : "PROXY TCP4 ";
  out += ip_text(s);
  out += ' ';
  out += ip_text(d);
  out += ' ';
  out += std::to_string(src.port());
  out += ' ';
  out += std::to_string(dst.port());
  out += "\r\n";
}

void write_v2(std::string& out, const endpoint& src, const endpoint& dst, std::span<const tlv> tlvs) {
  const auto [s, d] = same_family(src, dst);
  std::size_t len = s.is_v6() ? 36 : 12;
  for (const auto& t : tlvs) len += 3 + t.value.size();
  out.append(v2_sig_text);
  out.push_back(0x21);                  // version 2, PROXY
  out.push_back(s.is_v6() ? 0x21 : 0x11);  // TCP over IPv6 / IPv4
  put16(out, len);
  if (s.is_v6()) {
    const auto sb = s.to_v6().to_bytes(), db = d.to_v6().to_bytes();
    out.append(reinterpret_cast<const char*>(sb.data()), sb.size());
    out.append(reinterpret_cast<const char*>(db.data()), db.size());
  } else {
    const auto sb = s.to_v4().to_bytes(), db = d.to_v4().to_bytes();
    out.append(reinterpret_cast<const char*>(sb.data()), sb.size());
    out.append(reinterpret_cast<const char*>(db.data()), db.size());
  }
  put16(out, src.port());
  put16(out, dst.port());
  for (const auto& t : tlvs) {
    out.push_back(static_cast<char>(t.type));
    put16(out, t.value.size());
    out += t.value;
  }
}

}  // namespace lb::proto::proxy
