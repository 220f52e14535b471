#pragma once
// A TCP listener's SNI routes compiled for lookup: the ClientHello's name is
// looked up whole, then each of its parent domains longest first (so
// `*.api.example.com` beats `*.example.com`), then the routes that name no
// SNI; among the routes of one name, the first whose ALPN the client offers
// wins. Hash lookups: the cost does not grow with the number of routes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lb/config/config.h"
#include "lb/proto/tcp/client_hello.h"

namespace lb::proto::tcp {

class sni_router {
 public:
  sni_router() = default;
  // Thread: control.
  explicit sni_router(const std::vector<config::tcp_route>& routes);

  // Thread: any. The index in `routes` of the route for `hello`, if any.
  std::optional<std::size_t> match(const client_hello& hello) const;

 private:
  struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using table = std::unordered_map<std::string, std::vector<std::uint32_t>, text_hash, std::equal_to<>>;

  std::optional<std::size_t> first_offered(const std::vector<std::uint32_t>& candidates,
                                           const client_hello& hello) const;

  table exact_;   // "api.example.com"
  table suffix_;  // ".example.com" for "*.example.com"
  std::vector<std::uint32_t> any_;  // routes by ALPN alone
  std::vector<std::vector<std::string>> alpn_;  // per route; empty = any
};

}  // namespace lb::proto::tcp
