#pragma once
// Splits a watch response body into its newline-terminated JSON lines as the
// bytes arrive (the API server writes one event per line, and chunk
// boundaries fall anywhere). A line longer than `max_line` is an error for
// the stream: memory stays bounded whatever the server sends.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace lb::kube {

class line_splitter {
 public:
  explicit line_splitter(std::size_t max_line) : max_line_(max_line) {}

  // Thread: the owner's. Calls `line` for every complete line in `data` (and
  // what was held from earlier calls), without its newline; blank lines are
  // skipped. False when a line exceeds max_line (nothing more is delivered).
  bool feed(std::string_view data, const std::function<void(std::string_view)>& line);
  // Bytes of an unfinished line held.
  std::size_t pending() const { return partial_.size(); }
  void clear() { partial_.clear(); }

 private:
  std::size_t max_line_;
  std::string partial_;
};

}  // namespace lb::kube
