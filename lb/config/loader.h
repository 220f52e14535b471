#pragma once
// YAML text -> validated `config`: the section decoders (decode.h), then
// cross_check(). What file_source runs on the file's bytes; tests and tools
// call it on strings.

#include <string>
#include <string_view>

#include "lb/config/source.h"

namespace lb::config {

struct load_options {
  // `lb --kubernetes`: a file without `kubernetes:` reads as if it had
  // `kubernetes: {}` (controller mode, in-cluster defaults).
  bool kubernetes = false;
};

// Thread: any (never a worker's hot path: it allocates and compiles regexes).
// Decodes and validates `yaml`; `name` stands for the file in diagnostics and
// in config::source. Returns the config, or every problem found, in file
// order. Never throws. Leaves load_result::digest empty.
load_result load_string(std::string_view yaml, const std::string& name, const load_options& opts = {});

}  // namespace lb::config
