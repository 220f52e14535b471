#pragma once
// An IP address as text, for X-Forwarded-For, hashing and logs. IPv4 is
// formatted with std::to_chars: Asio's to_string goes through inet_ntop and
// sprintf, about 1,700 instructions, paid on every accepted connection.

#include <charconv>
#include <string>

#include <boost/asio/ip/address.hpp>

namespace lb {

inline std::string ip_text(const boost::asio::ip::address& a) {
  if (!a.is_v4()) return a.to_string();
  const auto bytes = a.to_v4().to_bytes();
  char buf[16];  // "255.255.255.255"
  char* p = buf;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i != 0) *p++ = '.';
    p = std::to_chars(p, buf + sizeof buf, bytes[i]).ptr;
  }
  return std::string(buf, p);
}

}  // namespace lb
