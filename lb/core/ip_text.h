#pragma once
// An IP address as text, for X-Forwarded-For, hashing and logs. IPv4 is
// formatted by hand: Asio's to_string goes through inet_ntop and sprintf,
// about 1,700 instructions, paid on every accepted connection.

#include <cstddef>
#include <string>

#include <boost/asio/ip/address.hpp>

namespace lb {

inline std::string ip_text(const boost::asio::ip::address& a) {
  if (!a.is_v4()) return a.to_string();
  const auto bytes = a.to_v4().to_bytes();
  // Digits written through an index, not std::to_chars: GCC 12 at -O3
  // (Release, inlined into connection.cc) lost the bound on the pointer
  // to_chars returned and reported a false -Wstringop-overflow on the '.'
  // store (GCC's meta-bug 88443, bogus -Wstringop-overflow warnings).
  char buf[16];  // "255.255.255.255"
  std::size_t n = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i != 0) buf[n++] = '.';
    const unsigned v = bytes[i];
    if (v >= 100) buf[n++] = static_cast<char>('0' + v / 100);
    if (v >= 10) buf[n++] = static_cast<char>('0' + v / 10 % 10);
    buf[n++] = static_cast<char>('0' + v % 10);
  }
  return std::string(buf, n);
}

}  // namespace lb
