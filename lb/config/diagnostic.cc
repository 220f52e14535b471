#include "lb/config/diagnostic.h"

#include <utility>

namespace lb::config {

diagnostic diagnostic::at(const source_pos& pos, std::string message) {
  return {pos.file, pos.line, pos.column, std::move(message)};
}

std::string diagnostic::str() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

}  // namespace lb::config
