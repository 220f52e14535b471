// TLS ClientHello peek (SNI passthrough): any input is incomplete, complete,
// not_tls, malformed or too_large without reading past it; a complete hello
// lies inside the input and inside the limits, its name is in the router's
// form, its strict prefixes are only incomplete, and the hello alone (the
// bytes after it dropped) parses to the same result.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lb/proto/tcp/client_hello.h"

namespace tcp = lb::proto::tcp;

namespace {

bool router_form(std::string_view name) {
  if (name.empty()) return true;
  if (name.back() == '.') return false;
  for (char c : name)
    if (c >= 'A' && c <= 'Z') return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tcp::client_hello h;
  if (tcp::parse_client_hello(in, h) != tcp::hello_status::complete) return 0;
  if (h.wire_length == 0 || h.wire_length > in.size() || h.wire_length > tcp::max_client_hello_wire)
    __builtin_trap();
  if (!router_form(h.sni)) __builtin_trap();
  const auto hello = in.substr(0, h.wire_length);
  tcp::client_hello alone;
  if (tcp::parse_client_hello(hello, alone) != tcp::hello_status::complete || alone.sni != h.sni ||
      alone.alpn != h.alpn || alone.wire_length != h.wire_length)
    __builtin_trap();
  for (std::size_t cut : {h.wire_length - 1, h.wire_length / 2, std::size_t{5}, std::size_t{1}}) {
    if (cut >= h.wire_length) continue;
    tcp::client_hello part;
    if (tcp::parse_client_hello(hello.substr(0, cut), part) != tcp::hello_status::incomplete) __builtin_trap();
  }
  return 0;
}
