#include "lb/proto/http/rewrite.h"

#include <string>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace lb::proto::http {

namespace bhttp = boost::beast::http;
using boost::beast::iequals;

namespace {

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Removes Connection and every field it names, plus the fixed hop-by-hop set.
void strip_hop_by_hop(bhttp::fields& f, bool upgrade) {
  // Connection may repeat; collect names first since erasing invalidates iterators.
  std::string named;
  for (auto [it, end] = f.equal_range(bhttp::field::connection); it != end; ++it) {
    for (auto token : bhttp::token_list(it->value())) {
      if (upgrade && iequals(token, "upgrade")) continue;
      named.append(token.data(), token.size()).push_back('\n');
    }
  }
  for (std::size_t pos = 0; pos < named.size();) {
    auto end = named.find('\n', pos);
    std::string_view name(named.data() + pos, end - pos);
    // Never let Connection strip framing we depend on.
    if (!iequals(name, "content-length") && !iequals(name, "transfer-encoding") && !iequals(name, "host"))
      f.erase(name);
    pos = end + 1;
  }
  f.erase(bhttp::field::connection);
  f.erase(bhttp::field::keep_alive);
  f.erase(bhttp::field::te);
  f.erase(bhttp::field::proxy_connection);
  if (!upgrade) f.erase(bhttp::field::upgrade);
  for (auto it = f.begin(); it != f.end();) {
    if (starts_with_icase(it->name_string(), "proxy-")) it = f.erase(it);
    else ++it;
  }
}

}  // namespace

void rewrite_request(bhttp::fields& f, std::string_view client_ip, bool upgrade, const config::route& route) {
  strip_hop_by_hop(f, upgrade);
  // lb answers Expect: 100-continue itself before streaming the body.
  f.erase(bhttp::field::expect);

  std::string xff;
  constexpr std::string_view xff_name = "X-Forwarded-For";
  for (auto [it, end] = f.equal_range(xff_name); it != end; ++it) {
    if (!xff.empty()) xff.append(", ");
    xff.append(it->value());
  }
  if (!xff.empty()) xff.append(", ");
  xff.append(client_ip);
  f.set(xff_name, xff);
  f.set("X-Real-IP", client_ip);
  f.set("X-Forwarded-Proto", "http");
  for (const auto& [name, value] : route.set_headers) f.set(name, value);
  if (upgrade) f.set(bhttp::field::connection, "upgrade");
}

void rewrite_response(bhttp::fields& f, bool upgrade) {
  strip_hop_by_hop(f, upgrade);
  if (upgrade) f.set(bhttp::field::connection, "upgrade");
}

}  // namespace lb::proto::http
