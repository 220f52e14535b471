#include "lb/proto/http/head_scan.h"

#include <cstring>

namespace lb::proto::http {

// Line ends are found with memchr (vectorised in libc); bare CR and NUL are
// checked once over the complete head, so the per-byte work stays in libc.
head_scanner::state head_scanner::scan(std::string_view d) {
  const char* const base = d.data();
  const std::size_t n = d.size();
  std::size_t i = pos_;
  for (;;) {
    const void* hit = i < n ? std::memchr(base + i, '\n', n - i) : nullptr;
    if (!hit) {
      pos_ = n;
      return state::need_more;
    }
    i = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
    if (i == 0 || base[i - 1] != '\r') return state::malformed;  // bare LF
    if (i + 1 >= n) {
      pos_ = i;  // rescan this LF once the next byte is here
      return state::need_more;
    }
    const char next = base[i + 1];
    if (next == ' ' || next == '\t') return state::malformed;  // obs-fold
    if (next == '\r') {
      if (i + 2 >= n) {
        pos_ = i;
        return state::need_more;
      }
      if (base[i + 2] != '\n') return state::malformed;
      length_ = i + 3;
      // Every CR must be the first half of a CRLF (one memchr per line).
      for (const char* cr = base; (cr = static_cast<const char*>(std::memchr(cr, '\r', length_ - static_cast<std::size_t>(cr - base))));
           ++cr)
        if (cr[1] != '\n') return state::malformed;  // bare CR
      if (std::memchr(base, '\0', length_)) return state::malformed;
      return state::complete;
    }
    i += 1;
  }
}

std::size_t leading_empty_lines(std::string_view d) {
  std::size_t i = 0;
  while (i + 1 < d.size() && d[i] == '\r' && d[i + 1] == '\n') i += 2;
  return i;
}

}  // namespace lb::proto::http
