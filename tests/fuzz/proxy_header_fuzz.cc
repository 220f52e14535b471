// PROXY protocol v1/v2 header (the accept stage's parser): any prefix of any
// input is need_more, malformed or a complete header inside the buffer, and
// a parsed header written back out parses to the same addresses.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lb/proto/proxy/header.h"

namespace proxy = lb::proto::proxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)proxy::starts_like_header(in);
  proxy::header h;
  const auto r = proxy::parse(in, h);
  if (r.status != proxy::parse_status::complete) return 0;
  if (r.length == 0 || r.length > in.size() || r.length > proxy::max_header_size) __builtin_trap();
  if (h.local) return 0;
  // Prefixes of a complete header never parse as complete.
  proxy::header partial;
  if (proxy::parse(in.substr(0, r.length - 1), partial).status == proxy::parse_status::complete) __builtin_trap();
  if (h.source.address().is_v4() != h.destination.address().is_v4()) return 0;
  std::string out;
  proxy::write_v2(out, h.source, h.destination, h.tlvs);
  proxy::header back;
  const auto r2 = proxy::parse(out, back);
  if (r2.status != proxy::parse_status::complete || r2.length != out.size() || back.source != h.source ||
      back.destination != h.destination)
    __builtin_trap();
  return 0;
}
