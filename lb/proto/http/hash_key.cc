#include "lb/proto/http/hash_key.h"

#include "lb/balancer/balancer.h"
#include "lb/core/cookie.h"

namespace lb::proto::http {

namespace bhttp = boost::beast::http;

std::optional<std::string_view> find_cookie(const fields& f, std::string_view name) {
  for (auto [it, end] = f.equal_range(bhttp::field::cookie); it != end; ++it)
    if (const auto v = cookie_in(it->value(), name)) return v;
  return std::nullopt;
}

std::uint64_t request_hash(const config::hash_key& key, std::string_view client_ip, const request_message& msg) {
  switch (key.type) {
    case config::hash_key::kind::client_ip:
    case config::hash_key::kind::sni:  // refused for HTTP routes by cross_check()
      return balancer::hash_key(client_ip);
    case config::hash_key::kind::header: return balancer::hash_key(msg[key.name]);
    case config::hash_key::kind::cookie: return balancer::hash_key(find_cookie(msg, key.name).value_or(std::string_view()));
    case config::hash_key::kind::path: {
      auto target = msg.target();
      return balancer::hash_key(target.substr(0, target.find('?')));
    }
  }
  return 0;
}

}  // namespace lb::proto::http
