#include "lb/config/decode.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>


#include "lb/config/parse.h"

namespace lb::config::yaml {
namespace {

const schema top_schema{"top level",
                        {"workers", "drain_timeout", "admin", "access_log", "listeners", "pools", "tls",
                         "metrics", "limits", "kubernetes"},
                        {}};
const schema process_limits_schema{"limits", {"memory_high"}, {}};
const schema admin_schema{"admin", {"listen", "token_file"}, {}};
const schema access_log_schema{"access_log", {"path", "format"}, {}};

void read_workers(reader& r, const field& f, config& cfg);
void read_admin(reader& r, const field& f, admin& out);

void read_access_log(reader& r, const field& f, access_log& out);

}  // namespace

void decode_top(reader& r, const YAML::Node& root, config& cfg, bool kubernetes_default) {
  if (!root.IsMap()) {
    r.error(root.Mark(), "expected a map with 'listeners' and 'pools' at top level, got " +
                             describe(root));
    return;
  }
  const auto top = r.read_map({"config", root, root}, top_schema);
  if (!top) return;
  // In ingress mode the cluster brings listeners and pools of its own.
  if (!top->get("kubernetes")) {
    if (kubernetes_default) {
      cfg.kubernetes.emplace().pos = r.pos(root.Mark());
    } else {
      r.require(*top, "listeners", "config");
      r.require(*top, "pools", "config");
    }
  }
  for (const auto& f : top->items) {
    if (f.key == "workers") {
      read_workers(r, f, cfg);
    } else if (f.key == "drain_timeout") {
      if (auto d = r.read_duration(f, true)) cfg.drain_timeout = *d;
    } else if (f.key == "tls") {
      decode_tls_sessions(r, f, cfg.tls);
    } else if (f.key == "admin") {
      read_admin(r, f, cfg.admin);
    } else if (f.key == "access_log") {
      read_access_log(r, f, cfg.access_log);
    } else if (f.key == "listeners") {
      for (const auto& item : r.read_list(f, "listener").value_or(std::vector<field>{})) {
        decode_listener(r, item, cfg.listeners.emplace_back());
      }
    } else if (f.key == "pools") {
      // `pools: []`: listeners whose routes name none (an ingress with no Ingress yet).
      for (const auto& item : r.read_list(f, "pool", true).value_or(std::vector<field>{})) {
        decode_pool(r, item, cfg.pools.emplace_back());
      }
    } else if (f.key == "kubernetes") {
      decode_kubernetes(r, f, cfg.kubernetes.emplace());
    } else if (f.key == "metrics") {
      decode_metrics(r, f, cfg.metrics);
    } else if (f.key == "limits") {
      if (const auto m = r.read_map(f, process_limits_schema))
        if (const auto* h = m->get("memory_high"))
          if (auto v = r.read_uint(*h, 0, std::uint64_t{1} << 50)) cfg.limits.memory_high = *v;
    }
  }
}

namespace {

void read_workers(reader& r, const field& f, config& cfg) {
  std::optional<std::uint64_t> n;
  if (f.value.IsScalar()) {
    if (f.value.Scalar() == "auto") {
      cfg.workers = 0;
      return;
    }
    n = parse_digits(f.value.Scalar());
  }
  if (!n || *n < 1 || *n > 256) {
    r.error(f, "invalid 'workers': expected \"auto\" or an integer from 1 to 256, got " +
                   describe(f.value));
    return;
  }
  cfg.workers = static_cast<unsigned>(*n);
}

void read_admin(reader& r, const field& f, admin& out) {
  const auto m = r.read_map(f, admin_schema);
  if (!m) return;
  r.require(*m, "listen", "admin");
  if (const auto* l = m->get("listen")) {
    out.listen = r.read_address(*l, address_use::listen);
    out.listen_pos = r.pos(*l);
  }
  if (const auto* t = m->get("token_file")) {
    const auto v = r.read_string(*t);
    if (!v) return;
    out.token_file_pos = r.pos(*t);
    std::filesystem::path p(*v);
    if (p.is_relative() && !out.token_file_pos.file.empty())
      p = std::filesystem::path(out.token_file_pos.file).parent_path() / p;
    out.token_file = p.lexically_normal().string();
    std::ifstream in(out.token_file);
    std::string token;
    if (!in || !std::getline(in, token)) {
      r.error(*t, "cannot read admin token file '" + out.token_file + "'");
      return;
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) token.pop_back();
    // A short token is guessable within the admin rate limit's patience.
    if (token.size() < 16 || token.find_first_of(" \t") != std::string::npos) {
      r.error(*t, "admin token in '" + out.token_file + "' must be one line of at least 16 characters without spaces");
      return;
    }
    out.token = std::move(token);
  }
  // No token on a non-loopback admin.listen is valid: probes and scrapes
  // (kubelet, Prometheus) need the port, and the server then refuses every
  // mutating request (admin/server.cc) instead of trusting the network.
}

void read_access_log(reader& r, const field& f, access_log& out) {
  const auto m = r.read_map(f, access_log_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    const auto s = r.read_string(item);
    if (!s) continue;
    if (item.key == "path") {
      if (*s == "stdout") {
        out.type = access_log::kind::stdout_;
      } else if (*s == "off") {
        out.type = access_log::kind::off;
      } else if (s->empty() || s->find('\0') != std::string::npos) {
        r.error(item, "invalid 'path': expected stdout, off or a file path, got " +
                          describe(item.value));
      } else {
        out.type = access_log::kind::file;
        out.path = *s;
      }
    } else if (item.key == "format" && *s != "json") {
      r.error(item, "unknown access log format '" + *s + "' (expected one of: json)");
    }
  }
}

}  // namespace
}  // namespace lb::config::yaml
