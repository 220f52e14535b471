#pragma once
// A cookie's value in a Cookie field: `name=value` pairs separated by ";"
// (RFC 6265 §5.4). An HTTP/2 client may split them over several fields
// (RFC 9113 §8.2.3); the caller searches each.

#include <optional>
#include <string_view>

namespace lb {

// Thread: any. The value of cookie `name` in one Cookie field value, or nullopt.
inline std::optional<std::string_view> cookie_in(std::string_view field, std::string_view name) {
  while (!field.empty()) {
    const auto semi = field.find(';');
    auto pair = field.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    if (semi == std::string_view::npos) break;
    field.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

}  // namespace lb
