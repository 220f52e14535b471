#include "lb/kube/credentials.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "lb/core/read_file.h"

namespace lb::kube {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  const auto ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// The entry of a kubeconfig list (`clusters`, `users`, `contexts`) called `name`.
// A missing one is Undefined (`!node`); a default YAML::Node would be a defined Null.
YAML::Node named(const YAML::Node& list, const std::string& name, const char* inner) {
  const YAML::Node missing(YAML::NodeType::Undefined);
  if (!list || !list.IsSequence()) return missing;
  for (const auto& entry : list) {
    if (entry["name"] && entry["name"].as<std::string>() == name) return entry[inner];
  }
  return missing;
}

std::string str(const YAML::Node& n, const char* key) {
  return n && n[key] && n[key].IsScalar() ? n[key].as<std::string>() : std::string{};
}

// A file named by the kubeconfig (relative to its folder) or inline base64
// `data`: kubectl prefers the data when both are given.
bool file_or_data(const YAML::Node& n, const char* file_key, const char* data_key, const fs::path& base,
                  std::string& out, std::string& why) {
  if (const auto data = str(n, data_key); !data.empty()) {
    if (!base64_decode(data, out)) {
      why = std::string(data_key) + " is not valid base64";
      return false;
    }
    return true;
  }
  if (auto file = str(n, file_key); !file.empty()) {
    if (fs::path(file).is_relative()) file = (base / file).string();
    return read_file(file, out, why);
  }
  return true;
}

}  // namespace

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0, pad = 0;
  for (const char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=') { ++pad; continue; }
    else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    else return false;
    if (pad) return false;  // data after padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits are the zero padding of the last group: 6 bits (one char) is truncated input.
  return bits < 6 && pad <= 2;
}

bool parse_server_url(std::string_view url, std::string& host, std::uint16_t& port, std::string& why) {
  constexpr std::string_view scheme = "https://";
  if (url.substr(0, scheme.size()) != scheme) {
    why = "server '" + std::string(url) + "' is not an https:// URL";
    return false;
  }
  auto rest = url.substr(scheme.size());
  rest = rest.substr(0, rest.find('/'));
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      why = "server '" + std::string(url) + "': unclosed '['";
      return false;
    }
    host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size() && rest[close + 1] == ':') port_text = rest.substr(close + 2);
  } else {
    const auto colon = rest.find(':');
    host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  port = 443;
  if (!port_text.empty()) {
    unsigned p = 0;
    const auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || p == 0 || p > 65535) {
      why = "server '" + std::string(url) + "': bad port";
      return false;
    }
    port = static_cast<std::uint16_t>(p);
  }
  if (host.empty()) {
    why = "server '" + std::string(url) + "': no host";
    return false;
  }
  return true;
}

bool from_in_cluster(credentials& out, std::string& why, const std::string& dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    why = "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set";
    return false;
  }
  credentials c;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  // The same URL parser as a kubeconfig's: one set of rules for ports and IPv6.
  const bool v6 = h.find(':') != std::string::npos;
  if (!parse_server_url("https://" + (v6 ? "[" + h + "]" : h) + ":" + port, c.host, c.port, why)) return false;
  c.token_file = (fs::path(dir) / "token").string();
  std::string token;
  if (!read_file(c.token_file, token, why)) return false;
  if (!read_file((fs::path(dir) / "ca.crt").string(), c.ca_pem, why)) return false;
  std::string ns;
  std::string ignored;
  if (read_file((fs::path(dir) / "namespace").string(), ns, ignored)) c.namespace_ = trim(ns);
  out = std::move(c);
  return true;
}

bool from_kubeconfig(credentials& out, std::string& why, const std::string& path, const std::string& context) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    const fs::path base = fs::path(path).parent_path();
    const std::string ctx_name = context.empty() ? str(root, "current-context") : context;
    if (ctx_name.empty()) {
      why = path + ": no context given and no current-context";
      return false;
    }
    const YAML::Node ctx = named(root["contexts"], ctx_name, "context");
    if (!ctx) {
      why = path + ": no context '" + ctx_name + "'";
      return false;
    }
    const std::string cluster_name = str(ctx, "cluster"), user_name = str(ctx, "user");
    const YAML::Node cluster = named(root["clusters"], cluster_name, "cluster");
    if (!cluster) {
      why = path + ": no cluster '" + cluster_name + "'";
      return false;
    }
    credentials c;
    if (!parse_server_url(str(cluster, "server"), c.host, c.port, why)) {
      why = path + ": " + why;
      return false;
    }
    if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>(false)) {
      why = path + ": insecure-skip-tls-verify is not supported (the API server is always verified)";
      return false;
    }
    if (!file_or_data(cluster, "certificate-authority", "certificate-authority-data", base, c.ca_pem, why)) {
      why = path + ": " + why;
      return false;
    }
    c.namespace_ = str(ctx, "namespace");
    const YAML::Node user = named(root["users"], user_name, "user");
    if (user_name.empty() || !user) {
      // A context without a user is legal (anonymous): only the CA then.
      out = std::move(c);
      return true;
    }
    if (user["exec"] || user["auth-provider"]) {
      why = path + ": user '" + user_name + "' uses an exec or auth-provider plugin, which lb does not run";
      return false;
    }
    c.token = trim(str(user, "token"));
    if (auto tf = str(user, "tokenFile"); !tf.empty()) {
      c.token_file = fs::path(tf).is_relative() ? (base / tf).string() : tf;
      std::string probe;
      if (!read_file(c.token_file, probe, why)) {
        why = path + ": " + why;
        return false;
      }
    }
    if (!file_or_data(user, "client-certificate", "client-certificate-data", base, c.client_cert_pem, why) ||
        !file_or_data(user, "client-key", "client-key-data", base, c.client_key_pem, why)) {
      why = path + ": " + why;
      return false;
    }
    if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
      why = path + ": user '" + user_name + "' has a client certificate without a key, or a key without one";
      return false;
    }
    out = std::move(c);
    return true;
  } catch (const std::exception& e) {
    why = path + ": " + e.what();
    return false;
  }
}

}  // namespace lb::kube
