#pragma once
// What the config tests share: the smallest valid config, and the errors a
// YAML text gives as "FILE:LINE:COL: message" strings.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lb/config/loader.h"

namespace lb::config::test_support {

// The smallest valid config; error tests append to or edit it.
inline const std::string minimal = R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)";

inline std::vector<std::string> errors_of(const std::string& yaml) {
  const auto r = load_string(yaml, "t.yaml");
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.str());
  EXPECT_EQ(r.cfg == nullptr, !r.errors.empty()) << "cfg is set only when valid";
  return out;
}

}  // namespace lb::config::test_support
