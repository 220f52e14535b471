// The config's scalar parsers: durations, addresses, CIDRs, status ranges
// (a range's order is the caller's check).
// A duration that parses formats to text that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lb/config/parse.h"

namespace config = lb::config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)config::parse_digits(in);
  (void)config::parse_address(in);
  (void)config::parse_cidr(in);
  (void)config::parse_status_range(in);  // order and bounds: decode_pool's checks
  if (auto d = config::parse_duration(in)) {
    auto again = config::parse_duration(config::format_duration(*d));
    if (!again || *again != *d) __builtin_trap();
  }
  return 0;
}
