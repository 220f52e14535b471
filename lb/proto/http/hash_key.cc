#include "lb/proto/http/hash_key.h"

#include "lb/balancer/balancer.h"

namespace lb::proto::http {

namespace bhttp = boost::beast::http;

std::string_view cookie_value(const fields& f, std::string_view name) {
  for (auto [it, end] = f.equal_range(bhttp::field::cookie); it != end; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      const auto semi = v.find(';');
      auto pair = v.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
      if (semi == std::string_view::npos) break;
      v.remove_prefix(semi + 1);
    }
  }
  return {};
}

std::uint64_t request_hash(const config::hash_key& key, std::string_view client_ip, const request_message& msg) {
  switch (key.type) {
    case config::hash_key::kind::client_ip:
    case config::hash_key::kind::sni:  // refused for HTTP routes by cross_check()
      return balancer::hash_key(client_ip);
    case config::hash_key::kind::header: return balancer::hash_key(msg[key.name]);
    case config::hash_key::kind::cookie: return balancer::hash_key(cookie_value(msg, key.name));
    case config::hash_key::kind::path: {
      auto target = msg.target();
      return balancer::hash_key(target.substr(0, target.find('?')));
    }
  }
  return 0;
}

}  // namespace lb::proto::http
