// Query-string controls understood by lb-backend (see README.md). Pure
// functions, safe on any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lb::backend {

enum class echo_mode { none, json, body };

struct request_params {
  unsigned status = 200;
  std::uint64_t delay_ms = 0;
  std::optional<std::uint64_t> size;
  bool chunked = false;
  echo_mode echo = echo_mode::none;
  bool drop = false;
  bool reset = false;
  bool close = false;
  // Extra response headers, in the order given; names validated as tokens and
  // values free of CR/LF/NUL so a query string can never split the response.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Parses the query part of `target` into `out`. Unknown keys are ignored so
// real-world query strings pass through. Returns an error message for a known
// key with an invalid value.
std::optional<std::string> parse_params(std::string_view target, request_params& out);

// Percent-decodes an application/x-www-form-urlencoded component ('+' is a
// space). Returns nullopt on a malformed escape.
std::optional<std::string> url_decode(std::string_view s);

// Appends `s` as a JSON string literal. Bytes >= 0x80 are escaped as \u00XX,
// i.e. the input is read as Latin-1 (how HTTP header bytes are conventionally
// decoded), so the output is always valid JSON and lossless.
void append_json_string(std::string& out, std::string_view s);

}  // namespace lb::backend
