#pragma once
// One problem found in a config, at the place it was written. Plain data;
// made and read on the control thread.

#include <string>

#include "lb/config/config.h"

namespace lb::config {

// `line` and `column` are 1-based.
struct diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;

  // The problem `message` at `pos`.
  static diagnostic at(const source_pos& pos, std::string message);

  std::string str() const;  // "FILE:LINE:COL: message", the `lb --check` format
};

}  // namespace lb::config
