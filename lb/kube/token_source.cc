#include "lb/kube/token_source.h"

#include "lb/core/read_file.h"

namespace lb::kube {

const std::string& token_source::current() {
  refresh();
  return token_;
}

bool token_source::refresh() {
  if (file_.empty()) return false;
  std::string text, why;
  if (!read_file(file_, text, why)) {
    warning_ = why;
    return false;
  }
  warning_.clear();
  // Token files end with a newline as often as not; a header must not.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text == token_) return false;
  token_ = std::move(text);
  return true;
}

}  // namespace lb::kube
