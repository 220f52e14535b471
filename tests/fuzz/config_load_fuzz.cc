// YAML text to config::config through the loader (the same path as a file,
// from memory): every input is a config or diagnostics, never a crash, and
// a config that loads has no errors.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lb/config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto r = lb::config::load_string(in, "fuzz.yaml");
  if (r.ok() != static_cast<bool>(r.cfg)) __builtin_trap();
  return 0;
}
