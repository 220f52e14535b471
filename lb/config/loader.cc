#include "lb/config/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "lb/config/parse.h"
#include "lb/config/validate.h"

namespace lb::config {
namespace {

constexpr std::uint64_t no_max = std::numeric_limits<std::uint64_t>::max();

// The keys one YAML map may hold. `unsupported` are DESIGN.md keys this build
// does not implement: they get a clearer message than "unknown key".
struct schema {
  std::string_view what;  // "listener", as used in messages
  std::vector<std::string_view> keys;
  std::vector<std::string_view> unsupported;
};

const schema top_schema{"top level",
                        {"workers", "drain_timeout", "admin", "access_log", "listeners", "pools"},
                        {}};
const schema admin_schema{"admin", {"listen"}, {}};
const schema access_log_schema{"access_log", {"path", "format"}, {}};
const schema listener_schema{"listener",
                             {"name", "listen", "protocol", "limits", "routes"},
                             {"tls", "proxy_protocol", "pool"}};
const schema limits_schema{
    "limits",
    {"max_connections", "header_timeout", "idle_timeout", "max_header_bytes", "max_body_bytes"},
    {}};
const schema route_schema{"route", {"name", "match", "pool", "timeout", "retries", "set_headers"},
                          {}};
const schema retries_schema{"retries", {"attempts", "on", "budget_percent"}, {}};
const schema match_schema{"match",
                          {"host", "path_prefix", "path_exact", "path_regex", "headers"},
                          {}};
const schema pool_schema{"pool",
                         {"name", "balancer", "hash_key", "endpoints", "dns_refresh",
                          "connect_timeout", "keepalive", "max_connections_per_endpoint",
                          "health_check", "outlier", "slow_start"},
                         {}};
const schema endpoint_schema{"endpoint", {"address", "weight"}, {}};
const schema keepalive_schema{"keepalive", {"max_idle", "idle_timeout"}, {}};
const schema health_check_schema{"health_check",
                                 {"type", "path", "host", "interval", "timeout",
                                  "healthy_threshold", "unhealthy_threshold", "expect_status"},
                                 {}};
const schema outlier_schema{
    "outlier", {"consecutive_failures", "base_ejection", "max_ejected_percent"}, {}};

constexpr std::uint64_t max_u32 = std::numeric_limits<std::uint32_t>::max();

// One `key: value` of a map, or one list item (then `key` names the item kind).
struct field {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// A map's known keys in file order, plus the map's own position for
// "missing key" errors.
struct fields {
  YAML::Mark mark;
  std::vector<field> items;

  const field* get(std::string_view key) const {
    for (const auto& f : items) {
      if (f.key == key) return &f;
    }
    return nullptr;
  }
};

std::string join(const std::vector<std::string_view>& v) {
  std::string out;
  for (auto s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

// How a node reads in "got ..." messages.
std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: {
      std::string s = n.Scalar();
      if (s.size() > 64) s = s.substr(0, 61) + "...";
      return "\"" + s + "\"";
    }
    default: return "an empty value";
  }
}

// An empty value's mark points past it (often at the next line), so errors
// about it go to its key instead.
YAML::Mark mark_of(const field& f) {
  return f.value.IsNull() ? f.key_node.Mark() : f.value.Mark();
}

std::string range_text(std::uint64_t min, std::uint64_t max) {
  if (max == no_max) return "an integer >= " + std::to_string(min);
  return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

// Why parse_address refused `s`, for the common mistakes.
std::string address_hint(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return " (missing ':port')";
  if (s.front() != '[' && s.substr(0, colon).find(':') != std::string_view::npos) {
    return " (IPv6 addresses need brackets, like [::1]:8080)";
  }
  const auto port = parse_digits(s.substr(colon + 1));
  if (port && *port > 65535) return " (port must be 0..65535)";
  return "";
}

enum class address_use { listen, endpoint };

struct route_marks {
  YAML::Mark name;
  std::optional<YAML::Mark> pool;  // set once a pool name was read
};

struct listener_marks {
  std::optional<YAML::Mark> listen;  // set once a valid address was read
  std::vector<route_marks> routes;
};

class loader {
 public:
  explicit loader(std::string file) : file_(std::move(file)) {}

  load_result run(std::string_view text);

 private:
  void error(const YAML::Mark& m, std::string message);
  void error(const field& f, std::string message) { error(mark_of(f), std::move(message)); }

  std::optional<fields> read_map(const field& f, const schema& s);
  bool require(const fields& m, std::string_view key, std::string_view what);
  std::optional<std::vector<field>> read_list(const field& f, std::string_view item);

  std::optional<std::string> read_string(const field& f);
  std::optional<std::uint64_t> read_uint(const field& f, std::uint64_t min, std::uint64_t max);
  std::optional<duration> read_duration(const field& f, bool allow_zero);
  std::optional<address> read_address(const field& f, address_use use);
  std::optional<std::string> read_name(const field& f, std::string_view what);

  void read_top(const YAML::Node& root, config& cfg);
  void read_workers(const field& f, config& cfg);
  void read_admin(const field& f, admin& out);
  void read_access_log(const field& f, access_log& out);
  void read_listener(const field& f, listener& out, listener_marks& marks);
  void read_protocol(const field& f, listener& out);
  void read_limits(const field& f, limits& out);
  void read_route(const field& f, std::size_t index, route& out, route_marks& marks);
  void read_match(const field& f, route& out);
  void read_path(const field& f, path_match::kind kind, route& out);
  void read_headers(const field& f, bool for_upstream,
                    std::vector<std::pair<std::string, std::string>>& out);
  void read_retries(const field& f, retry_policy& out);
  void read_retry_on(const field& f, retry_policy& out);
  void read_pool(const field& f, pool& out);
  bool read_balancer(const field& f, pool& out);
  bool read_hash_key(const field& f, pool& out);
  void read_endpoints(const field& f, pool& out);
  std::optional<endpoint> read_endpoint(const field& f);
  void read_keepalive(const field& f, keepalive& out);
  void read_health_check(const field& f, health_check& out);
  void read_expect_status(const field& f, health_check& out);
  void read_outlier(const field& f, outlier& out);

  void check_unique_names(const config& cfg);
  void check_listen_addresses(const config& cfg);
  void resolve_pools(config& cfg);

  std::string file_;
  std::vector<diagnostic> errors_;

  // Positions of values checked only once the whole file is read, parallel to
  // config::listeners and their routes.
  std::vector<listener_marks> listener_marks_;
  YAML::Mark admin_listen_mark_;
  struct named {
    std::string name;
    YAML::Mark mark;
  };
  std::vector<named> listener_names_, pool_names_;
};

void loader::error(const YAML::Mark& m, std::string message) {
  // yaml-cpp marks are 0-based; a null mark (-1) means "somewhere in the file".
  const int line = m.line >= 0 ? m.line + 1 : 1;
  const int column = m.column >= 0 ? m.column + 1 : 1;
  errors_.push_back({file_, line, column, std::move(message)});
}

std::optional<fields> loader::read_map(const field& f, const schema& s) {
  if (!f.value.IsMap()) {
    error(f, "invalid '" + f.key + "': expected a map, got " + describe(f.value));
    return std::nullopt;
  }
  fields out;
  out.mark = f.value.Mark();
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    field item{"", it->first, it->second};
    if (!it->first.IsScalar()) {
      error(it->first.Mark(), "expected a key name in " + std::string(s.what) + ", got " +
                                  describe(it->first));
      continue;
    }
    item.key = it->first.Scalar();
    const auto is = [&](std::string_view k) { return k == item.key; };
    if (std::any_of(s.unsupported.begin(), s.unsupported.end(), is)) {
      error(it->first.Mark(), "'" + item.key + "' is not supported by this version of lb");
    } else if (std::none_of(s.keys.begin(), s.keys.end(), is)) {
      error(it->first.Mark(), "unknown key '" + item.key + "' in " + std::string(s.what) +
                                  " (expected one of: " + join(s.keys) + ")");
    } else if (out.get(item.key)) {
      error(it->first.Mark(), "duplicate key '" + item.key + "' in " + std::string(s.what));
    } else {
      out.items.push_back(std::move(item));
    }
  }
  return out;
}

bool loader::require(const fields& m, std::string_view key, std::string_view what) {
  if (m.get(key)) return true;
  error(m.mark, "missing required key '" + std::string(key) + "' in " + std::string(what));
  return false;
}

std::optional<std::vector<field>> loader::read_list(const field& f, std::string_view item) {
  if (!f.value.IsSequence()) {
    error(f, "invalid '" + f.key + "': expected a list, got " + describe(f.value));
    return std::nullopt;
  }
  if (f.value.size() == 0) {
    error(f, "'" + f.key + "' must not be empty");
    return std::nullopt;
  }
  std::vector<field> out;
  for (const auto& n : f.value) out.push_back({std::string(item), n, n});
  return out;
}

std::optional<std::string> loader::read_string(const field& f) {
  if (!f.value.IsScalar()) {
    error(f, "invalid '" + f.key + "': expected a string, got " + describe(f.value));
    return std::nullopt;
  }
  return f.value.Scalar();
}

std::optional<std::uint64_t> loader::read_uint(const field& f, std::uint64_t min,
                                               std::uint64_t max) {
  std::optional<std::uint64_t> v;
  if (f.value.IsScalar()) v = parse_digits(f.value.Scalar());
  if (!v || *v < min || *v > max) {
    error(f, "invalid '" + f.key + "': expected " + range_text(min, max) + ", got " +
                 describe(f.value));
    return std::nullopt;
  }
  return v;
}

std::optional<duration> loader::read_duration(const field& f, bool allow_zero) {
  std::optional<duration> d;
  if (f.value.IsScalar()) d = parse_duration(f.value.Scalar());
  if (!d) {
    error(f, "invalid '" + f.key + "': expected a duration like \"250ms\" or \"2s\", got " +
                 describe(f.value));
    return std::nullopt;
  }
  if (!allow_zero && d->count() == 0) {
    error(f, "invalid '" + f.key + "': must be greater than 0");
    return std::nullopt;
  }
  return d;
}

std::optional<address> loader::read_address(const field& f, address_use use) {
  std::optional<address> a;
  if (f.value.IsScalar()) a = parse_address(f.value.Scalar());
  if (!a) {
    const std::string hint = f.value.IsScalar() ? address_hint(f.value.Scalar()) : "";
    error(f, "invalid '" + f.key + "': expected an address like \"127.0.0.1:8080\" or " +
                 "\"[::1]:8080\", got " + describe(f.value) + hint);
    return std::nullopt;
  }
  if (use == address_use::listen && a->is_hostname) {
    error(f, "invalid '" + f.key + "': must be an IP address (lb does not resolve names to " +
                 "listen on), got " + describe(f.value));
    return std::nullopt;
  }
  if (use == address_use::endpoint && a->port == 0) {
    error(f, "invalid '" + f.key + "': an endpoint's port must not be 0");
    return std::nullopt;
  }
  return a;
}

std::optional<std::string> loader::read_name(const field& f, std::string_view what) {
  auto s = read_string(f);
  if (s && !is_name(*s)) {
    error(f, "invalid " + std::string(what) + " name " + describe(f.value) +
                 ": use 1 to 128 letters, digits, '_', '.' or '-'");
    return std::nullopt;
  }
  return s;
}

void loader::read_top(const YAML::Node& root, config& cfg) {
  if (!root.IsMap()) {
    error(root.Mark(), "expected a map with 'listeners' and 'pools' at top level, got " +
                           describe(root));
    return;
  }
  const auto top = read_map({"config", root, root}, top_schema);
  if (!top) return;
  require(*top, "listeners", "config");
  require(*top, "pools", "config");
  for (const auto& f : top->items) {
    if (f.key == "workers") {
      read_workers(f, cfg);
    } else if (f.key == "drain_timeout") {
      if (auto d = read_duration(f, true)) cfg.drain_timeout = *d;
    } else if (f.key == "admin") {
      read_admin(f, cfg.admin);
    } else if (f.key == "access_log") {
      read_access_log(f, cfg.access_log);
    } else if (f.key == "listeners") {
      for (const auto& item : read_list(f, "listener").value_or(std::vector<field>{})) {
        read_listener(item, cfg.listeners.emplace_back(), listener_marks_.emplace_back());
      }
    } else if (f.key == "pools") {
      for (const auto& item : read_list(f, "pool").value_or(std::vector<field>{})) {
        read_pool(item, cfg.pools.emplace_back());
      }
    }
  }
}

void loader::read_workers(const field& f, config& cfg) {
  std::optional<std::uint64_t> n;
  if (f.value.IsScalar()) {
    if (f.value.Scalar() == "auto") {
      cfg.workers = 0;
      return;
    }
    n = parse_digits(f.value.Scalar());
  }
  if (!n || *n < 1 || *n > 256) {
    error(f, "invalid 'workers': expected \"auto\" or an integer from 1 to 256, got " +
                 describe(f.value));
    return;
  }
  cfg.workers = static_cast<unsigned>(*n);
}

void loader::read_admin(const field& f, admin& out) {
  const auto m = read_map(f, admin_schema);
  if (!m) return;
  require(*m, "listen", "admin");
  if (const auto* l = m->get("listen")) {
    out.listen = read_address(*l, address_use::listen);
    admin_listen_mark_ = mark_of(*l);
  }
}

void loader::read_access_log(const field& f, access_log& out) {
  const auto m = read_map(f, access_log_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    const auto s = read_string(item);
    if (!s) continue;
    if (item.key == "path") {
      if (*s == "stdout") {
        out.type = access_log::kind::stdout_;
      } else if (*s == "off") {
        out.type = access_log::kind::off;
      } else if (s->empty() || s->find('\0') != std::string::npos) {
        error(item, "invalid 'path': expected stdout, off or a file path, got " +
                        describe(item.value));
      } else {
        out.type = access_log::kind::file;
        out.path = *s;
      }
    } else if (item.key == "format" && *s != "json") {
      error(item, "unknown access log format '" + *s + "' (expected one of: json)");
    }
  }
}

void loader::read_listener(const field& f, listener& out, listener_marks& marks) {
  const auto m = read_map(f, listener_schema);
  if (!m) return;
  require(*m, "name", "listener");
  require(*m, "listen", "listener");
  for (const auto& item : m->items) {
    if (item.key == "name") {
      if (auto n = read_name(item, "listener")) {
        out.name = *n;
        listener_names_.push_back({*n, mark_of(item)});
      }
    } else if (item.key == "listen") {
      if (auto a = read_address(item, address_use::listen)) {
        out.listen = *a;
        marks.listen = mark_of(item);
      }
    } else if (item.key == "protocol") {
      read_protocol(item, out);
    } else if (item.key == "limits") {
      read_limits(item, out.limits);
    } else if (item.key == "routes") {
      const auto routes = read_list(item, "route");
      for (std::size_t i = 0; routes && i < routes->size(); ++i) {
        read_route((*routes)[i], i, out.routes.emplace_back(), marks.routes.emplace_back());
      }
    }
  }
  // A tcp listener has no routes; its own error already says why it is refused.
  const auto* proto = m->get("protocol");
  if (!proto || !proto->value.IsScalar() || proto->value.Scalar() != "tcp") {
    require(*m, "routes", "listener");
  }
}

void loader::read_protocol(const field& f, listener& out) {
  const auto p = read_string(f);
  if (!p) return;
  if (*p == "http") {
    out.proto = protocol::http;
  } else if (*p == "tcp") {
    error(f, "protocol 'tcp' is not supported by this version of lb");
  } else {
    error(f, "unknown protocol '" + *p + "' (expected one of: http)");
  }
}

void loader::read_limits(const field& f, limits& out) {
  const auto m = read_map(f, limits_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "max_connections") {
      if (auto v = read_uint(item, 1, no_max)) out.max_connections = *v;
    } else if (item.key == "header_timeout") {
      if (auto d = read_duration(item, false)) out.header_timeout = *d;
    } else if (item.key == "idle_timeout") {
      if (auto d = read_duration(item, false)) out.idle_timeout = *d;
    } else if (item.key == "max_header_bytes") {
      if (auto v = read_uint(item, 1024, 1048576)) {
        out.max_header_bytes = static_cast<std::uint32_t>(*v);
      }
    } else if (item.key == "max_body_bytes") {
      if (auto v = read_uint(item, 0, no_max)) out.max_body_bytes = *v;
    }
  }
}

void loader::read_route(const field& f, std::size_t index, route& out, route_marks& marks) {
  out.name = "route" + std::to_string(index);
  marks.name = f.value.Mark();
  const auto m = read_map(f, route_schema);
  if (!m) return;
  require(*m, "pool", "route");
  for (const auto& item : m->items) {
    if (item.key == "name") {
      if (auto n = read_name(item, "route")) {
        out.name = *n;
        marks.name = mark_of(item);
      }
    } else if (item.key == "match") {
      read_match(item, out);
    } else if (item.key == "pool") {
      if (auto p = read_string(item)) {
        out.pool = *p;
        marks.pool = mark_of(item);
      }
    } else if (item.key == "timeout") {
      if (auto d = read_duration(item, false)) out.timeout = *d;
    } else if (item.key == "retries") {
      read_retries(item, out.retries);
    } else if (item.key == "set_headers") {
      read_headers(item, true, out.set_headers);
    }
  }
}

void loader::read_retries(const field& f, retry_policy& out) {
  const auto m = read_map(f, retries_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "attempts") {
      if (auto v = read_uint(item, 0, 10)) out.attempts = static_cast<std::uint32_t>(*v);
    } else if (item.key == "on") {
      read_retry_on(item, out);
    } else if (item.key == "budget_percent") {
      if (auto v = read_uint(item, 0, 100)) out.budget_percent = static_cast<std::uint32_t>(*v);
    }
  }
}

void loader::read_retry_on(const field& f, retry_policy& out) {
  if (f.value.IsSequence() && f.value.size() == 0) {
    error(f, "'on' must not be empty (to turn retries off, set 'attempts: 0')");
    return;
  }
  const auto items = read_list(f, "retry condition");
  if (!items) return;
  // A list replaces the default set: `on: [502]` retries on 502 only.
  out.on_connect_failure = false;
  out.on_refused_stream = false;
  out.on_status.clear();
  std::vector<std::string> seen;
  for (const auto& item : *items) {
    std::optional<std::uint64_t> code;
    std::string name;
    if (item.value.IsScalar()) {
      name = item.value.Scalar();
      code = parse_digits(name);
      if (code) name = std::to_string(*code);
    }
    const bool known = name == "connect-failure" || name == "refused-stream" ||
                       (code && *code >= 500 && *code <= 599);
    if (!known) {
      error(item, "invalid retry condition " + describe(item.value) +
                      " (expected connect-failure, refused-stream or a status code from 500 "
                      "to 599)");
      continue;
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      error(item, "duplicate retry condition '" + name + "' in 'on'");
      continue;
    }
    seen.push_back(name);
    if (code) {
      out.on_status.push_back(static_cast<std::uint16_t>(*code));
    } else if (name == "connect-failure") {
      out.on_connect_failure = true;
    } else {
      out.on_refused_stream = true;
    }
  }
}

void loader::read_match(const field& f, route& out) {
  const auto m = read_map(f, match_schema);
  if (!m) return;
  const field* path = nullptr;
  for (const auto& item : m->items) {
    if (item.key == "host") {
      const auto h = read_string(item);
      std::string why;
      if (!h) continue;
      if (auto hm = parse_host_match(*h, why)) {
        out.host = *hm;
      } else {
        error(item, why);
      }
    } else if (item.key == "headers") {
      read_headers(item, false, out.headers);
    } else if (path) {
      error(item.key_node.Mark(), "'" + item.key + "' conflicts with '" + path->key +
                                      "': a route matches at most one of path_prefix, " +
                                      "path_exact, path_regex");
    } else {
      path = &item;
      const auto kind = item.key == "path_prefix"  ? path_match::kind::prefix
                        : item.key == "path_exact" ? path_match::kind::exact
                                                   : path_match::kind::regex;
      read_path(item, kind, out);
    }
  }
}

void loader::read_path(const field& f, path_match::kind kind, route& out) {
  const auto p = read_string(f);
  if (!p) return;
  if (kind == path_match::kind::regex) {
    if (const auto why = regex_error(*p, false); !why.empty()) {
      error(f, "invalid 'path_regex' '" + *p + "': " + why);
      return;
    }
  } else if (p->empty() || p->front() != '/') {
    error(f, "invalid '" + f.key + "': must start with '/', got " + describe(f.value));
    return;
  } else if (p->find('?') != std::string::npos) {
    // The router compares the path only; a '?' here could never match.
    error(f, "invalid '" + f.key + "': must not contain '?' (the query string is not matched)");
    return;
  }
  out.path.type = kind;
  out.path.value = *p;
}

void loader::read_headers(const field& f, bool for_upstream,
                          std::vector<std::pair<std::string, std::string>>& out) {
  if (!f.value.IsMap()) {
    error(f, "invalid '" + f.key + "': expected a map of header names to values, got " +
                 describe(f.value));
    return;
  }
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    const field item{it->first.IsScalar() ? it->first.Scalar() : "", it->first, it->second};
    if (!it->first.IsScalar() || !is_header_token(item.key)) {
      error(it->first.Mark(), "invalid header name " + describe(it->first) + " in '" + f.key + "'");
      continue;
    }
    const std::string name = to_lower(item.key);
    if (for_upstream && is_reserved_header(name)) {
      error(it->first.Mark(), "'" + f.key + "' may not set '" + name +
                                  "': lb manages framing and hop-by-hop headers itself");
      continue;
    }
    if (std::any_of(out.begin(), out.end(), [&](const auto& h) { return h.first == name; })) {
      error(it->first.Mark(), "duplicate header '" + name + "' in '" + f.key + "'");
      continue;
    }
    const auto value = read_string(item);
    if (!value) continue;
    if (!is_header_value(*value)) {
      error(item, "invalid value for header '" + name + "': it must not contain CR, LF or NUL");
      continue;
    }
    out.emplace_back(name, *value);
  }
}

void loader::read_pool(const field& f, pool& out) {
  const auto m = read_map(f, pool_schema);
  if (!m) return;
  require(*m, "name", "pool");
  require(*m, "endpoints", "pool");
  bool balancer_ok = true;
  const field* hash_key = nullptr;  // set once a valid one was read
  for (const auto& item : m->items) {
    if (item.key == "name") {
      if (auto n = read_name(item, "pool")) {
        out.name = *n;
        pool_names_.push_back({*n, mark_of(item)});
      }
    } else if (item.key == "balancer") {
      balancer_ok = read_balancer(item, out);
    } else if (item.key == "hash_key") {
      if (read_hash_key(item, out)) hash_key = &item;
    } else if (item.key == "endpoints") {
      read_endpoints(item, out);
    } else if (item.key == "dns_refresh") {
      if (auto d = read_duration(item, false)) out.dns_refresh = *d;
    } else if (item.key == "connect_timeout") {
      if (auto d = read_duration(item, false)) out.connect_timeout = *d;
    } else if (item.key == "keepalive") {
      read_keepalive(item, out.keepalive);
    } else if (item.key == "max_connections_per_endpoint") {
      if (auto v = read_uint(item, 0, max_u32)) {
        out.max_connections_per_endpoint = static_cast<std::uint32_t>(*v);
      }
    } else if (item.key == "health_check") {
      read_health_check(item, out.health_check.emplace());
    } else if (item.key == "outlier") {
      read_outlier(item, out.outlier.emplace());
    } else if (item.key == "slow_start") {
      if (auto d = read_duration(item, true)) out.slow_start = *d;
    }
  }
  // Other balancers would ignore the key; a config that expects stickiness
  // from it must not load.
  if (hash_key && balancer_ok && !is_hash_balancer(out.balancer)) {
    error(hash_key->key_node.Mark(),
          "'hash_key' is only used by the hash balancers (ip_hash, ring_hash, maglev), but "
          "this pool's balancer is '" + std::string(balancer_name(out.balancer)) + "'");
  }
}

bool loader::read_balancer(const field& f, pool& out) {
  const auto b = read_string(f);
  if (!b) return false;
  if (const auto kind = balancer_from_name(*b)) {
    out.balancer = *kind;
    return true;
  }
  error(f, "unknown balancer '" + *b + "' (expected one of: " + join(balancer_names()) + ")");
  return false;
}

bool loader::read_hash_key(const field& f, pool& out) {
  const auto s = read_string(f);
  if (!s) return false;
  std::string why;
  auto k = parse_hash_key(*s, why);
  if (!k) {
    error(f, why);
    return false;
  }
  out.hash_key = std::move(*k);
  return true;
}

void loader::read_endpoints(const field& f, pool& out) {
  const auto items = read_list(f, "endpoint");
  if (!items) return;
  for (const auto& item : *items) {
    auto e = read_endpoint(item);
    if (!e) continue;
    const auto same = [&](const endpoint& o) {
      return o.addr.host == e->addr.host && o.addr.port == e->addr.port;
    };
    if (std::any_of(out.endpoints.begin(), out.endpoints.end(), same)) {
      // Listing one twice would silently double its share; weight says it openly.
      error(item, "endpoint " + e->addr.str() + " is listed twice (use 'weight' instead)");
      continue;
    }
    out.endpoints.push_back(std::move(*e));
  }
}

std::optional<endpoint> loader::read_endpoint(const field& f) {
  if (f.value.IsScalar()) {
    auto a = read_address({"address", f.value, f.value}, address_use::endpoint);
    if (!a) return std::nullopt;
    return endpoint{*a, 1};
  }
  if (!f.value.IsMap()) {
    error(f, "invalid endpoint: expected \"host:port\" or a map with 'address' and 'weight', "
             "got " + describe(f.value));
    return std::nullopt;
  }
  const auto m = read_map(f, endpoint_schema);
  if (!m || !require(*m, "address", "endpoint")) return std::nullopt;
  endpoint e;
  bool ok = true;
  if (auto a = read_address(*m->get("address"), address_use::endpoint)) {
    e.addr = *a;
  } else {
    ok = false;
  }
  if (const auto* w = m->get("weight")) {
    if (auto v = read_uint(*w, 1, 1000)) {
      e.weight = static_cast<std::uint32_t>(*v);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return e;
}

void loader::read_keepalive(const field& f, keepalive& out) {
  const auto m = read_map(f, keepalive_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "max_idle") {
      if (auto v = read_uint(item, 0, 100000)) out.max_idle = static_cast<std::uint32_t>(*v);
    } else if (item.key == "idle_timeout") {
      if (auto d = read_duration(item, false)) out.idle_timeout = *d;
    }
  }
}

void loader::read_health_check(const field& f, health_check& out) {
  const auto m = read_map(f, health_check_schema);
  if (!m) return;
  bool type_known = true;
  if (const auto* t = m->get("type")) {
    const auto s = read_string(*t);
    if (s && *s == "http") {
      out.type = health_check::kind::http;
    } else if (s && *s == "tcp") {
      out.type = health_check::kind::tcp;
    } else {
      if (s) error(*t, "unknown health check type '" + *s + "' (expected one of: http, tcp)");
      type_known = false;
    }
  }
  const field* interval = nullptr;  // each set once read and valid
  const field* timeout = nullptr;
  bool durations_ok = true;
  for (const auto& item : m->items) {
    const bool http_only = item.key == "path" || item.key == "host" || item.key == "expect_status";
    if (http_only && type_known && out.type == health_check::kind::tcp) {
      error(item.key_node.Mark(), "'" + item.key +
                                      "' applies only to http health checks, and this one is "
                                      "type 'tcp'");
      continue;
    }
    if (item.key == "path") {
      const auto p = read_string(item);
      if (!p) continue;
      if (p->empty() || p->front() != '/') {
        error(item, "invalid 'path': must start with '/', got " + describe(item.value));
      } else if (!is_origin_form(*p)) {
        error(item, "invalid 'path': must not contain spaces, control characters or non-ASCII "
                    "bytes (percent-encode them)");
      } else {
        out.path = *p;
      }
    } else if (item.key == "host") {
      const auto h = read_string(item);
      if (!h) continue;
      if (is_host_header(*h)) {
        out.host = *h;
      } else {
        error(item, "invalid 'host': expected a host name or IP address, with an optional "
                    "':port', got " + describe(item.value));
      }
    } else if (item.key == "interval" || item.key == "timeout") {
      const auto d = read_duration(item, false);
      if (!d) {
        durations_ok = false;
      } else if (item.key == "interval") {
        out.interval = *d;
        interval = &item;
      } else {
        out.timeout = *d;
        timeout = &item;
      }
    } else if (item.key == "healthy_threshold") {
      if (auto v = read_uint(item, 1, 100)) out.healthy_threshold = static_cast<std::uint32_t>(*v);
    } else if (item.key == "unhealthy_threshold") {
      if (auto v = read_uint(item, 1, 100)) {
        out.unhealthy_threshold = static_cast<std::uint32_t>(*v);
      }
    } else if (item.key == "expect_status") {
      read_expect_status(item, out);
    }
  }
  // A probe still running when the next is due would overlap it.
  if (durations_ok && out.timeout >= out.interval) {
    if (timeout) {
      error(*timeout, "invalid 'timeout': must be less than 'interval' (" +
                          format_duration(out.interval) + (interval ? "" : ", the default") +
                          ")");
    } else if (interval) {
      error(*interval, "invalid 'interval': must be greater than 'timeout' (" +
                           format_duration(out.timeout) + ", the default)");
    }
  }
}

void loader::read_expect_status(const field& f, health_check& out) {
  std::optional<status_range> r;
  if (f.value.IsScalar()) r = parse_status_range(f.value.Scalar());
  if (!r) {
    error(f, "invalid 'expect_status': expected a status code like 200 or a range like "
             "\"200-399\", got " + describe(f.value));
  } else if (r->min < 100 || r->min > 599 || r->max < 100 || r->max > 599) {
    error(f, "invalid 'expect_status': status codes must be from 100 to 599, got " +
                 describe(f.value));
  } else if (r->min > r->max) {
    error(f, "invalid 'expect_status': the lower code must come first, got " +
                 describe(f.value));
  } else {
    out.expect_status_min = static_cast<std::uint16_t>(r->min);
    out.expect_status_max = static_cast<std::uint16_t>(r->max);
  }
}

void loader::read_outlier(const field& f, outlier& out) {
  const auto m = read_map(f, outlier_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "consecutive_failures") {
      if (auto v = read_uint(item, 1, 1000)) {
        out.consecutive_failures = static_cast<std::uint32_t>(*v);
      }
    } else if (item.key == "base_ejection") {
      if (auto d = read_duration(item, false)) out.base_ejection = *d;
    } else if (item.key == "max_ejected_percent") {
      if (auto v = read_uint(item, 0, 100)) {
        out.max_ejected_percent = static_cast<std::uint32_t>(*v);
      }
    }
  }
}

void loader::check_unique_names(const config& cfg) {
  const auto check = [this](const std::vector<named>& names, std::string_view what) {
    std::map<std::string, YAML::Mark> seen;
    for (const auto& n : names) {
      auto [it, fresh] = seen.emplace(n.name, n.mark);
      if (!fresh) {
        error(n.mark, "duplicate " + std::string(what) + " name '" + n.name +
                          "' (first used on line " + std::to_string(it->second.line + 1) + ")");
      }
    }
  };
  check(listener_names_, "listener");
  check(pool_names_, "pool");
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    std::vector<named> routes;
    const auto& r = cfg.listeners[i].routes;
    for (std::size_t j = 0; j < r.size(); ++j) {
      routes.push_back({r[j].name, listener_marks_[i].routes[j].name});
    }
    check(routes, "route");
  }
}

void loader::check_listen_addresses(const config& cfg) {
  // Two listeners on one address would both bind it (SO_REUSEPORT) and
  // silently split its traffic. Port 0 asks the kernel for a fresh port each time.
  std::map<std::string, const listener*> seen;
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    const auto& mark = listener_marks_[i].listen;
    if (!mark || l.listen.port == 0) continue;
    auto [it, fresh] = seen.emplace(l.listen.str(), &l);
    if (!fresh) {
      error(*mark, "listen address " + l.listen.str() + " is already used by listener '" +
                              it->second->name + "'");
    }
  }
  if (cfg.admin.listen && cfg.admin.listen->port != 0) {
    const auto it = seen.find(cfg.admin.listen->str());
    if (it != seen.end()) {
      error(admin_listen_mark_, "admin listen address " + cfg.admin.listen->str() +
                                    " is already used by listener '" + it->second->name + "'");
    }
  }
}

void loader::resolve_pools(config& cfg) {
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < cfg.pools.size(); ++i) index.emplace(cfg.pools[i].name, i);
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    for (std::size_t j = 0; j < cfg.listeners[i].routes.size(); ++j) {
      auto& r = cfg.listeners[i].routes[j];
      const auto& mark = listener_marks_[i].routes[j].pool;
      if (!mark) continue;  // no pool given: already reported
      const auto it = index.find(r.pool);
      if (it == index.end()) {
        error(*mark, "route '" + r.name + "' names unknown pool '" + r.pool + "'");
      } else {
        r.pool_index = it->second;
      }
    }
  }
}

load_result loader::run(std::string_view text) {
  auto cfg = std::make_shared<config>();
  cfg->source = file_;
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) {
      error(YAML::Mark::null_mark(), "config is empty");
    } else {
      read_top(root, *cfg);
      check_unique_names(*cfg);
      check_listen_addresses(*cfg);
      resolve_pools(*cfg);
    }
  } catch (const YAML::ParserException& e) {
    error(e.mark, "YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    error(e.mark, "cannot load config: " + e.msg);
  } catch (const std::exception& e) {
    error(YAML::Mark::null_mark(), std::string("cannot load config: ") + e.what());
  }
  // Checks run in passes (names, pool references), so restore file order.
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  load_result out;
  out.errors = std::move(errors_);
  if (out.errors.empty()) out.cfg = std::move(cfg);
  return out;
}

}  // namespace

load_result load_string(std::string_view yaml, const std::string& name) {
  try {
    return loader(name).run(yaml);
  } catch (const std::exception& e) {  // only allocation failure can get here
    load_result out;
    out.errors.push_back({name, 1, 1, std::string("cannot load config: ") + e.what()});
    return out;
  }
}

}  // namespace lb::config
