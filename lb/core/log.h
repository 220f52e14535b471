#pragma once
// logfmt lines on stderr: `ts=... level=info msg="listener bound" listener=web ...`.
// Each line is formatted in a thread-local buffer and written with one write(2),
// so lines from different threads never interleave and no lock is taken.
// Workers log only rare events (never per request on the success path).

#include <string_view>

namespace lb::log {

enum class level { debug, info, warn, error };

void set_min_level(level l);
bool enabled(level l);

// A field is a key and a value; values with spaces, quotes or '=' are quoted.
struct field {
  std::string_view key;
  std::string_view value;
};

void write(level l, std::string_view msg, std::initializer_list<field> fields = {});

inline void debug(std::string_view m, std::initializer_list<field> f = {}) { write(level::debug, m, f); }
inline void info(std::string_view m, std::initializer_list<field> f = {}) { write(level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<field> f = {}) { write(level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<field> f = {}) { write(level::error, m, f); }

}  // namespace lb::log
