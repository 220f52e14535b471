#include "lb/config/cross_check.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lb::config {
namespace {

// Positions as a Kubernetes source might give them: its own text, no lines.
source_pos at(const std::string& where, int line = 0, int column = 0) {
  return {where, line, column};
}

listener make_listener(const std::string& name, const std::string& host, std::uint16_t port) {
  listener l;
  l.name = name;
  l.name_pos = at("listener/" + name, 1, 1);
  l.listen = {host, port, false};
  l.listen_pos = at("listener/" + name, 2, 1);
  return l;
}

route make_route(const std::string& name, const std::string& pool, int line) {
  route r;
  r.name = name;
  r.name_pos = at("t.yaml", line, 9);
  r.pool = pool;
  r.pool_pos = at("t.yaml", line, 20);
  return r;
}

pool make_pool(const std::string& name, int line) {
  pool p;
  p.name = name;
  p.name_pos = at("t.yaml", line, 11);
  p.endpoints.push_back({{"127.0.0.1", 9001, false}, 1});
  return p;
}

std::vector<std::string> strs(const std::vector<diagnostic>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) out.push_back(d.str());
  return out;
}

TEST(cross_check, consistent_config_resolves_pool_indexes) {
  config c;
  c.listeners.push_back(make_listener("web", "127.0.0.1", 8080));
  c.listeners[0].routes = {make_route("api", "api", 5), make_route("rest", "web", 6)};
  c.listeners.push_back(make_listener("other", "127.0.0.1", 8081));
  c.listeners[1].routes = {make_route("api", "api", 9)};  // route names are per listener
  c.pools = {make_pool("web", 11), make_pool("api", 12)};
  EXPECT_EQ(strs(cross_check(c)), std::vector<std::string>{});
  EXPECT_EQ(c.listeners[0].routes[0].pool_index, 1u);
  EXPECT_EQ(c.listeners[0].routes[1].pool_index, 0u);
  EXPECT_EQ(c.listeners[1].routes[0].pool_index, 1u);
}

TEST(cross_check, duplicate_names_point_back_at_the_first) {
  config c;
  c.listeners.push_back(make_listener("web", "127.0.0.1", 8080));
  c.listeners[0].routes = {make_route("r", "p", 3), make_route("r", "p", 4)};
  c.listeners.push_back(make_listener("web", "127.0.0.1", 8081));
  c.listeners[1].name_pos = at("t.yaml", 7, 11);
  c.pools = {make_pool("p", 11), make_pool("p", 13)};
  EXPECT_EQ(strs(cross_check(c)),
            (std::vector<std::string>{
                "t.yaml:7:11: duplicate listener name 'web' (first used on line 1)",
                "t.yaml:13:11: duplicate pool name 'p' (first used on line 11)",
                "t.yaml:4:9: duplicate route name 'r' (first used on line 3)",
            }));
  // The first of two pools with one name is the one routes use.
  EXPECT_EQ(c.listeners[0].routes[1].pool_index, 0u);
}

TEST(cross_check, empty_names_are_left_to_the_source) {
  // The source reported a name it could not read; "" is not a second one.
  config c;
  c.listeners = {make_listener("", "127.0.0.1", 8080), make_listener("", "127.0.0.1", 8081)};
  c.pools = {make_pool("", 11), make_pool("", 12)};
  EXPECT_EQ(strs(cross_check(c)), std::vector<std::string>{});
}

TEST(cross_check, listen_collisions_with_listeners_and_admin) {
  config c;
  c.listeners = {make_listener("a", "127.0.0.1", 8080), make_listener("b", "127.0.0.1", 8080),
                 make_listener("c", "127.0.0.2", 8080),  // another host: no collision
                 make_listener("d", "::1", 8080), make_listener("e", "::1", 8080),
                 make_listener("f", "127.0.0.1", 0),  // the kernel's pick, or unread
                 make_listener("g", "127.0.0.1", 0)};
  c.admin.listen = address{"127.0.0.2", 8080, false};
  c.admin.listen_pos = at("admin", 1, 17);
  EXPECT_EQ(strs(cross_check(c)),
            (std::vector<std::string>{
                "listener/b:2:1: listen address 127.0.0.1:8080 is already used by listener 'a'",
                "listener/e:2:1: listen address [::1]:8080 is already used by listener 'd'",
                "admin:1:17: admin listen address 127.0.0.2:8080 is already used by listener 'c'",
            }));
}

TEST(cross_check, admin_on_port_zero_or_elsewhere_is_fine) {
  config c;
  c.listeners = {make_listener("a", "127.0.0.1", 8080)};
  c.admin.listen = address{"127.0.0.1", 0, false};
  EXPECT_EQ(strs(cross_check(c)), std::vector<std::string>{});
  c.admin.listen = address{"127.0.0.1", 9901, false};
  EXPECT_EQ(strs(cross_check(c)), std::vector<std::string>{});
  c.admin.listen.reset();
  EXPECT_EQ(strs(cross_check(c)), std::vector<std::string>{});
}

TEST(cross_check, unknown_pool_is_reported_at_the_reference) {
  config c;
  c.listeners.push_back(make_listener("web", "127.0.0.1", 8080));
  c.listeners[0].routes = {make_route("api", "nope", 5), make_route("none", "", 6)};
  c.listeners[0].routes[1].pool_index = 7;
  c.pools = {make_pool("web", 11)};
  EXPECT_EQ(strs(cross_check(c)),
            std::vector<std::string>{"t.yaml:5:20: route 'api' names unknown pool 'nope'"});
  // No pool named: the source reported it, and the index is left alone.
  EXPECT_EQ(c.listeners[0].routes[1].pool_index, 7u);
}

TEST(cross_check, reports_in_check_order_not_position_order) {
  // load_string() sorts by position; cross_check itself goes names,
  // addresses, pool references.
  config c;
  c.listeners = {make_listener("a", "127.0.0.1", 8080), make_listener("b", "127.0.0.1", 8080)};
  c.listeners[1].listen_pos = at("t.yaml", 2, 1);
  c.listeners[0].routes = {make_route("r", "x", 1)};
  c.pools = {make_pool("p", 10), make_pool("p", 20)};
  EXPECT_EQ(strs(cross_check(c)),
            (std::vector<std::string>{
                "t.yaml:20:11: duplicate pool name 'p' (first used on line 10)",
                "t.yaml:2:1: listen address 127.0.0.1:8080 is already used by listener 'a'",
                "t.yaml:1:20: route 'r' names unknown pool 'x'",
            }));
}

}  // namespace
}  // namespace lb::config
