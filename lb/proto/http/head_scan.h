#pragma once
// Finds the end of an HTTP/1.x message head in raw bytes and rejects the framing
// that Beast's parser tolerates but a proxy must not forward (request smuggling
// vectors): obs-fold continuation lines, bare CR, bare LF line endings and NUL.
// Socket-free so it can be unit tested.

#include <cstddef>
#include <string_view>

namespace lb::proto::http {

struct head_scanner {
  enum class state { need_more, complete, malformed };

  // Thread: any. Scans `data` (all bytes received so far for this head; the
  // scanner remembers how far it got). On `complete`, `length()` is the head
  // size including the final empty line.
  state scan(std::string_view data);

  std::size_t length() const { return length_; }
  void reset() { pos_ = 0, length_ = 0; }

 private:
  std::size_t pos_ = 0;     // next byte to look at
  std::size_t length_ = 0;  // head length once complete

};

// Number of leading CRLFs a server should ignore before a request line (RFC 9112 §2.2).
std::size_t leading_empty_lines(std::string_view data);

}  // namespace lb::proto::http
