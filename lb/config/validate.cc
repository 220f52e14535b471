#include "lb/config/validate.h"

#include <re2/re2.h>

#include <algorithm>
#include <string>

#include "lb/config/parse.h"

namespace lb::config {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_label(std::string_view l) {
  if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
  return std::all_of(l.begin(), l.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

// Host names as written in a match: lower-case labels; '_' is tolerated because
// Host headers carry it in practice (it is not valid in DNS, but never resolved here).
bool is_match_host(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' ||
      s.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || c == '-' || c == '.' || c == '_';
  });
}

// "[::1]": what an IPv6 Host header looks like once its port is stripped.
bool is_bracketed_v6(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  return std::all_of(s.begin() + 1, s.end() - 1, [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || c == ':' || c == '.';
  });
}

std::string strip_trailing_dot(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

bool is_hostname(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return false;
  std::string_view last;
  while (true) {
    const auto dot = s.find('.');
    last = s.substr(0, dot);
    if (!is_label(last)) return false;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return !std::all_of(last.begin(), last.end(), is_digit);
}

bool is_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || c == '_' || c == '.' || c == '-';
  });
}

bool is_header_token(std::string_view s) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || extra.find(c) != std::string_view::npos;
  });
}

bool is_header_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool is_cookie_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '"' && c != ',' && c != ';' && c != '\\';
  });
}

bool is_reserved_header(std::string_view n) {
  return n == "content-length" || n == "transfer-encoding" || n == "connection" ||
         n == "keep-alive" || n == "te" || n == "trailer" || n == "upgrade" ||
         n == "proxy-connection";
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::optional<host_match> parse_host_match(std::string_view s, std::string& error) {
  host_match m;
  if (!s.empty() && s.front() == '~') {
    const auto pattern = s.substr(1);
    if (pattern.empty()) {
      error = "empty host regex after '~'";
      return std::nullopt;
    }
    error = regex_error(pattern, true);
    if (!error.empty()) {
      error = "invalid host regex '" + std::string(pattern) + "': " + error;
      return std::nullopt;
    }
    // Kept as written: lower-casing a pattern would change it (\D vs \d).
    m.type = host_match::kind::regex;
    m.value = std::string(pattern);
    return m;
  }
  if (s.empty()) {
    error = "empty host (leave 'host' out to match any host)";
    return std::nullopt;
  }
  const std::string host = to_lower(s);
  std::string name;  // the part that must look like a host name
  if (host.starts_with("*.")) {
    m.type = host_match::kind::suffix;
    name = strip_trailing_dot(host.substr(2));
    m.value = "." + name;
  } else if (host.ends_with(".*")) {
    m.type = host_match::kind::prefix;
    name = host.substr(0, host.size() - 2);
    m.value = name + ".";
  } else {
    m.type = host_match::kind::exact;
    name = strip_trailing_dot(host);
    m.value = name;
    if (is_bracketed_v6(name)) return m;
  }
  if (name.find('*') != std::string::npos) {
    error = "invalid host '" + std::string(s) +
            "': '*' is only allowed as '*.example.com' or 'www.example.*'";
    return std::nullopt;
  }
  if (!is_match_host(name)) {
    error = "invalid host '" + std::string(s) +
            "': expected a host name like 'api.example.com', '*.example.com', "
            "'www.example.*' or '~regex'";
    return std::nullopt;
  }
  return m;
}

std::optional<hash_key> parse_hash_key(std::string_view s, std::string& error) {
  hash_key k;
  if (s == "client_ip") {
    k.type = hash_key::kind::client_ip;
    return k;
  }
  if (s == "path") {
    k.type = hash_key::kind::path;
    return k;
  }
  if (s == "sni") {
    k.type = hash_key::kind::sni;
    return k;
  }
  std::string_view what;
  if (s.starts_with("header:")) {
    k.type = hash_key::kind::header;
    what = "header";
  } else if (s.starts_with("cookie:")) {
    k.type = hash_key::kind::cookie;
    what = "cookie";
  } else {
    error = "unknown hash_key '" + std::string(s) +
            "' (expected one of: client_ip, header:NAME, cookie:NAME, path, sni)";
    return std::nullopt;
  }
  const auto name = s.substr(what.size() + 1);
  if (name.empty()) {
    error = "invalid hash_key '" + std::string(s) + "': missing the " + std::string(what) +
            " name after '" + std::string(what) + ":'";
    return std::nullopt;
  }
  if (!is_header_token(name)) {
    error = "invalid hash_key '" + std::string(s) + "': '" + std::string(name) +
            "' is not a valid " + std::string(what) + " name";
    return std::nullopt;
  }
  k.name = k.type == hash_key::kind::header ? to_lower(name) : std::string(name);
  return k;
}

bool is_host_header(std::string_view s) {
  // parse_address wants a port: lend one when there is none.
  return parse_address(s) || parse_address(std::string(s) + ":1");
}

bool is_origin_form(std::string_view s) {
  if (s.empty() || s.front() != '/') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < '\x7f'; });
}

std::string regex_error(std::string_view pattern, bool case_insensitive) {
  RE2::Options opts;
  opts.set_log_errors(false);  // the loader reports it, with a position
  opts.set_case_sensitive(!case_insensitive);
  RE2 re(re2::StringPiece(pattern.data(), pattern.size()), opts);
  return re.ok() ? std::string() : re.error();
}

}  // namespace lb::config
