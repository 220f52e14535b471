#pragma once
// (Host, path, headers, cookies) -> route, compiled once per config snapshot into a flat
// array scanned in order: first match wins (nginx's phase-array idea).

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "lb/config/config.h"

namespace re2 {
class RE2;
}

namespace lb::router {

// Non-owning header lookup so the router does not depend on the HTTP stack's
// field container. `get` receives a lower-case name and returns the first
// value; `cookie` a cookie name and its value, from any Cookie field.
struct header_source {
  const void* ctx = nullptr;
  std::optional<std::string_view> (*get)(const void* ctx, std::string_view name) = nullptr;
  std::optional<std::string_view> (*cookie)(const void* ctx, std::string_view name) = nullptr;
};

class table {
 public:
  // Thread: control. Compiles regexes; patterns were validated by the loader.
  explicit table(const std::vector<config::route>& routes);
  ~table();
  table(table&&) noexcept;
  table& operator=(table&&) noexcept;

  // Thread: any (const, lock-free). `host` is the raw Host header (port and a
  // trailing dot are ignored, case-insensitive); `target` is the request target
  // (the query string is ignored). Returns the route index, or nullopt.
  std::optional<std::size_t> match(std::string_view host, std::string_view target,
                                   const header_source& headers) const;

  // Thread: any (const, lock-free). Route `index`'s `rewrite:` applied to
  // `target` (path and query): true with the new target in `out`, or false
  // (no rewrite, or its regex did not match; `out` is then garbage).
  bool rewrite(std::size_t index, std::string_view target, std::string& out) const;

  // Out of line: vector<entry>::size() needs the complete `entry`.
  std::size_t size() const;

 private:
  struct entry;
  std::vector<entry> entries_;
};

// Lower-cased host without port or trailing dot, written into `buf` (which must
// hold host.size() bytes). Exposed for tests.
std::string_view normalize_host(std::string_view host, char* buf);

}  // namespace lb::router
