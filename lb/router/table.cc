#include "lb/router/table.h"

#include <re2/re2.h>

#include <string>
#include <utility>

namespace lb::router {
namespace {

// Longer than any DNS name (253) plus brackets; a longer Host matches only
// routes that do not look at the host.
constexpr std::size_t max_host = 256;

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::unique_ptr<re2::RE2> compile(const std::string& pattern, bool case_insensitive) {
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_case_sensitive(!case_insensitive);
  // The loader validated the pattern; should one still fail, `ok()` is false
  // and its route matches nothing rather than everything.
  return std::make_unique<re2::RE2>(pattern, opts);
}

// nginx's "$1" to RE2's "\1"; a backslash of the text stays itself.
std::string rewrite_template(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      out += "\\\\";
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9') {
      out += '\\';
      out += s[++i];
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

struct table::entry {
  config::host_match::kind host_kind;
  std::string host;
  std::unique_ptr<re2::RE2> host_re;
  config::path_match::kind path_kind;
  std::string path;
  std::unique_ptr<re2::RE2> path_re;
  std::vector<std::pair<std::string, std::string>> headers;
  std::unique_ptr<re2::RE2> rewrite_re;
  std::string rewrite_to;  // RE2's form: \1 for $1

  bool host_matches(std::string_view h, bool host_ok) const;
  bool path_matches(std::string_view p) const;
  std::vector<std::pair<std::string, std::string>> cookies;
  bool headers_match(const header_source& src) const;
};

bool table::entry::host_matches(std::string_view h, bool host_ok) const {
  using kind = config::host_match::kind;
  if (host_kind == kind::any) return true;
  if (!host_ok) return false;
  switch (host_kind) {
    case kind::exact: return h == host;
    // Strictly longer: "*.example.com" does not match "example.com" itself.
    case kind::suffix: return h.size() > host.size() && h.ends_with(host);
    case kind::prefix: return h.size() > host.size() && h.starts_with(host);
    case kind::regex:
      return host_re->ok() && RE2::FullMatch(re2::StringPiece(h.data(), h.size()), *host_re);
    default: return false;
  }
}

bool table::entry::path_matches(std::string_view p) const {
  using kind = config::path_match::kind;
  switch (path_kind) {
    case kind::prefix: return p.starts_with(path);
    case kind::exact: return p == path;
    case kind::regex:
      return path_re->ok() && RE2::FullMatch(re2::StringPiece(p.data(), p.size()), *path_re);
  }
  return false;
}

bool table::entry::headers_match(const header_source& src) const {
  for (const auto& [name, value] : headers) {
    if (!src.get) return false;
    const auto got = src.get(src.ctx, name);
    if (!got || *got != value) return false;
  }
  for (const auto& [name, value] : cookies) {
    if (!src.cookie) return false;
    const auto got = src.cookie(src.ctx, name);
    if (!got || *got != value) return false;
  }
  return true;
}

table::table(const std::vector<config::route>& routes) {
  entries_.reserve(routes.size());
  for (const auto& r : routes) {
    entry e;
    e.host_kind = r.host.type;
    e.host = r.host.value;
    if (e.host_kind == config::host_match::kind::regex) e.host_re = compile(e.host, true);
    e.path_kind = r.path.type;
    e.path = r.path.value;
    if (e.path_kind == config::path_match::kind::regex) e.path_re = compile(e.path, false);
    e.headers = r.headers;
    e.cookies = r.cookies;
    if (r.rewrite) {
      e.rewrite_re = compile(r.rewrite->regex, false);
      e.rewrite_to = rewrite_template(r.rewrite->replacement);
    }
    entries_.push_back(std::move(e));
  }
}

table::~table() = default;
table::table(table&&) noexcept = default;
table& table::operator=(table&&) noexcept = default;

std::size_t table::size() const { return entries_.size(); }

bool table::rewrite(std::size_t index, std::string_view target, std::string& out) const {
  const auto& e = entries_[index];
  if (!e.rewrite_re || !e.rewrite_re->ok()) return false;
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  // Into the caller's reused buffer: no allocation once it has grown.
  if (!RE2::Extract(re2::StringPiece(path.data(), path.size()), *e.rewrite_re, e.rewrite_to, &out)) return false;
  if (out.empty() || out.front() != '/') out.insert(0, 1, '/');  // a "$1" that began with none
  // The client's query follows unless the replacement has one (nginx).
  if (q != std::string_view::npos && out.find('?') == std::string::npos) out.append(target.substr(q));
  return true;
}

std::optional<std::size_t> table::match(std::string_view host, std::string_view target,
                                        const header_source& headers) const {
  char buf[max_host];
  const bool host_ok = host.size() <= max_host;
  const std::string_view h = host_ok ? normalize_host(host, buf) : std::string_view();
  const std::string_view path = target.substr(0, target.find('?'));
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto& e = entries_[i];
    if (e.host_matches(h, host_ok) && e.path_matches(path) && e.headers_match(headers)) {
      return i;
    }
  }
  return std::nullopt;
}

std::string_view normalize_host(std::string_view host, char* buf) {
  std::size_t end = host.size();
  if (!host.empty() && host.front() == '[') {
    // "[v6]:port": the port starts after the bracket, not at the first ':'.
    const auto close = host.find(']');
    if (close != std::string_view::npos) end = close + 1;
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    end = colon;
  }
  // "example.com." names the same host as "example.com".
  if (end > 0 && host[end - 1] == '.') --end;
  for (std::size_t i = 0; i < end; ++i) buf[i] = ascii_lower(host[i]);
  return std::string_view(buf, end);
}

}  // namespace lb::router
