#pragma once
// The PROXY protocol header (HAProxy's doc/proxy-protocol.txt), versions 1
// (one text line) and 2 (binary, with TLVs): parsing what a trusted load
// balancer in front sends, and writing one ahead of an upstream connection.
// Pure functions over bytes: no sockets, unit-tested alone.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace lb::proto::proxy {

using endpoint = boost::asio::ip::tcp::endpoint;

// v2 TLV types lb writes or reads by name (proxy-protocol.txt §2.2).
inline constexpr std::uint8_t tlv_alpn = 0x01;
inline constexpr std::uint8_t tlv_authority = 0x02;  // the SNI host name
inline constexpr std::uint8_t tlv_ssl = 0x20;
inline constexpr std::uint8_t tlv_ssl_version = 0x21;  // a sub-TLV of tlv_ssl

struct tlv {
  std::uint8_t type = 0;
  std::string value;
};

struct header {
  // LOCAL (v2) or UNKNOWN (v1), or an address family lb does not proxy
  // (UDP, unix): the connection's own addresses stand.
  bool local = false;
  endpoint source;       // the real client
  endpoint destination;  // the address the client connected to
  std::vector<tlv> tlvs;  // v2 only, in the order received
};

// v1 is at most 107 bytes; v2 is 16 plus its length field. lb refuses v2
// headers longer than this (TLVs carrying whole certificates) rather than
// buffer up to 64 KiB per connection.
inline constexpr std::size_t max_header_size = 4096;

enum class parse_status { complete, need_more, malformed };

struct parse_result {
  parse_status status = parse_status::need_more;
  std::size_t length = 0;  // complete: the header's bytes at the front of `data`
};

// Thread: any. Reads a v1 or v2 header at the front of `data` into `out`.
// need_more: `data` is a prefix of a header that may still be valid;
// malformed: it is not a PROXY header, or a broken one (bad signature,
// version, command, family, addresses, ports or TLV framing, or longer than
// max_header_size).
parse_result parse(std::string_view data, header& out);

enum class signature { no, yes, partial };

// Thread: any. Whether `data` starts with a PROXY header's signature
// ("PROXY " or v2's 12 bytes); `partial`: too short to tell, and a prefix of
// one. For refusing headers from peers that are not trusted.
signature starts_like_header(std::string_view data);

// Thread: any. Appends a v1 line for a TCP connection from `src` to `dst`
// (TCP6 when either is IPv6, with IPv4 mapped).
void write_v1(std::string& out, const endpoint& src, const endpoint& dst);

// Thread: any. Appends a v2 PROXY header for `src` -> `dst` with `tlvs` in
// order (each value at most 65535 bytes; the whole at most 65535).
void write_v2(std::string& out, const endpoint& src, const endpoint& dst, std::span<const tlv> tlvs);

}  // namespace lb::proto::proxy
