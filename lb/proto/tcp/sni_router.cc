#include "lb/proto/tcp/sni_router.h"

namespace lb::proto::tcp {

sni_router::sni_router(const std::vector<config::tcp_route>& routes) {
  for (std::uint32_t i = 0; i < routes.size(); ++i) {
    const auto& r = routes[i];
    alpn_.push_back(r.alpn);
    switch (r.sni.type) {
      case config::host_match::kind::exact: exact_[r.sni.value].push_back(i); break;
      case config::host_match::kind::suffix: suffix_[r.sni.value].push_back(i); break;
      default: any_.push_back(i); break;  // the loader allows no other kind
    }
  }
}

std::optional<std::size_t> sni_router::first_offered(const std::vector<std::uint32_t>& candidates,
                                                     const client_hello& hello) const {
  for (const auto i : candidates) {
    const auto& wanted = alpn_[i];
    if (wanted.empty()) return i;
    for (const auto& p : wanted)
      if (hello.offers(p)) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> sni_router::match(const client_hello& hello) const {
  const std::string_view name = hello.sni;
  if (!name.empty()) {
    if (const auto it = exact_.find(name); it != exact_.end())
      if (auto r = first_offered(it->second, hello)) return r;
    if (!suffix_.empty()) {
      // ".b.example.com", ".example.com", ".com": longest (most specific) first.
      for (auto dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1))
        if (const auto it = suffix_.find(name.substr(dot)); it != suffix_.end())
          if (auto r = first_offered(it->second, hello)) return r;
    }
  }
  return first_offered(any_, hello);
}

}  // namespace lb::proto::tcp
