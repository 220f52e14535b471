#pragma once
// YAML -> validated `config`. Runs on the control thread only; never on a worker.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lb/config/config.h"
#include "lb/config/diagnostic.h"

namespace lb::config {

struct load_result {
  std::shared_ptr<const config> cfg;  // set only when `errors` is empty
  std::vector<diagnostic> errors;     // every problem found, in file order
  std::string text;                   // the bytes parsed (load_file), to tell a later change from this one

  bool ok() const { return errors.empty(); }
};

// Thread: control. Reads and validates `path`; never throws.
load_result load_file(const std::string& path);

// Thread: any. Same, from text; `name` stands for the file in diagnostics.
load_result load_string(std::string_view yaml, const std::string& name);

}  // namespace lb::config
