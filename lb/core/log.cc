#include "lb/core/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "lb/core/time_text.h"

namespace lb::log {
namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};

constexpr std::string_view level_name(level l) {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out.push_back('?');
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

void set_min_level(level l) { min_level.store(static_cast<int>(l), std::memory_order_relaxed); }

bool enabled(level l) { return static_cast<int>(l) >= min_level.load(std::memory_order_relaxed); }

void write(level l, std::string_view msg, std::initializer_list<field> fields) {
  if (!enabled(l)) return;
  thread_local std::string line;
  line.clear();
  line.append("ts=");
  line.append(rfc3339_utc(unix_ms_now()));
  line.append(" level=");
  line.append(level_name(l));
  line.append(" msg=");
  append_value(line, msg);
  for (const auto& f : fields) {
    line.push_back(' ');
    line.append(f.key);
    line.push_back('=');
    append_value(line, f.value);
  }
  line.push_back('\n');
  // stderr is unbuffered; a failed log write has nowhere to be reported.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace lb::log
