#pragma once
// Wall-clock time as lb prints it in logs and admin views:
// "2026-11-23T14:02:11.532Z" (RFC 3339, UTC, milliseconds).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace lb {

inline std::int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

inline std::string rfc3339_utc(std::int64_t unix_ms) {
  // Floor division, so times before 1970 come out right too.
  std::int64_t secs = unix_ms / 1000;
  std::int64_t ms = unix_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];  // roomy enough for any int the compiler imagines
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

}  // namespace lb
