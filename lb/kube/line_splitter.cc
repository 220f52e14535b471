#include "lb/kube/line_splitter.h"

namespace lb::kube {

namespace {

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

bool line_splitter::feed(std::string_view data, const std::function<void(std::string_view)>& line) {
  while (!data.empty()) {
    const auto nl = data.find('\n');
    const auto take = nl == std::string_view::npos ? data.size() : nl;
    if (partial_.size() + take > max_line_) {
      partial_.clear();
      return false;
    }
    if (nl == std::string_view::npos) {
      partial_.append(data);
      return true;
    }
    // Whole lines straight from the buffer when nothing is held: no copy.
    if (partial_.empty()) {
      if (!blank(data.substr(0, nl))) line(data.substr(0, nl));
    } else {
      partial_.append(data.substr(0, nl));
      if (!blank(partial_)) line(partial_);
      partial_.clear();
    }
    data.remove_prefix(nl + 1);
  }
  return true;
}

}  // namespace lb::kube
