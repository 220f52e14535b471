// Router matching: a fixed table of every match kind, fuzzed host, target and
// header and cookie values; plus host normalisation. A match is an index into the table.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "lb/config/loader.h"
#include "lb/core/cookie.h"
#include "lb/router/table.h"

namespace {

constexpr std::string_view routes_yaml = R"(
listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - match: { host: api.example.com, path_prefix: /v1/ }
        pool: a
      - match: { host: "*.example.com", path_exact: /health }
        pool: a
      - match: { host: "www.example.*", headers: { x-tenant: blue } }
        pool: a
      - match: { path_prefix: /c/, cookies: { beta: always, tier: gold } }
        pool: a
      - match: { host: "~shard[0-9]+\\.example\\.net", path_regex: "/t/[0-9]+" }
        pool: a
      - match: { host: "[::1]" }
        pool: a
      - pool: a
pools:
  - name: a
    endpoints: [127.0.0.1:9000]
)";

const lb::router::table* make_table() {
  auto r = lb::config::load_string(routes_yaml, "routes.yaml");
  if (!r.ok()) {
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.message.c_str());
    __builtin_trap();
  }
  return new lb::router::table(r.cfg->listeners.at(0).routes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const lb::router::table* table = make_table();
  // host \0 target \0 x-tenant \0 cookie
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto next = [&in] {
    const auto at = in.find('\0');
    const auto part = in.substr(0, at);
    in.remove_prefix(at == std::string_view::npos ? in.size() : at + 1);
    return part;
  };
  const auto host = next();
  const auto target = next();
  const std::string_view fields[2] = {next(), next()};
  lb::router::header_source hs{fields,
                               [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
                                 if (name == "x-tenant") return static_cast<const std::string_view*>(ctx)[0];
                                 return std::nullopt;
                               },
                               [](const void* ctx, std::string_view name) {
                                 return lb::cookie_in(static_cast<const std::string_view*>(ctx)[1], name);
                               }};
  if (auto m = table->match(host, target, hs); m && *m >= table->size()) __builtin_trap();
  return 0;
}
