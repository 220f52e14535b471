// decode_pool_tls.cc: a pool's `tls:` (upstream TLS), through load_string.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lb/config/loader.h"
#include "load_helpers.h"

namespace lb::config {
namespace {

using test_support::errors_of;

std::string with_tls(const std::string& tls) {
  return R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
    tls: )" + tls + "\n";
}

TEST(pool_tls, absent_means_plain) {
  const auto r = load_string(test_support::minimal, "/etc/lb/t.yaml");
  ASSERT_TRUE(r.cfg);
  EXPECT_FALSE(r.cfg->pools[0].tls);
}

TEST(pool_tls, true_and_empty_map_give_the_defaults) {
  for (const std::string v : {"true", "{}"}) {
    const auto r = load_string(with_tls(v), "/etc/lb/t.yaml");
    ASSERT_TRUE(r.cfg) << v << ": " << (r.errors.empty() ? "" : r.errors[0].str());
    ASSERT_TRUE(r.cfg->pools[0].tls) << v;
    const auto& t = *r.cfg->pools[0].tls;
    EXPECT_TRUE(t.verify);
    EXPECT_TRUE(t.ca.empty());
    EXPECT_TRUE(t.sni.empty());
    EXPECT_EQ(t.min_version, tls_version::tls12);
    EXPECT_EQ(t.pos.line, 9);
  }
  const auto off = load_string(with_tls("false"), "t.yaml");
  ASSERT_TRUE(off.cfg);
  EXPECT_FALSE(off.cfg->pools[0].tls);
}

TEST(pool_tls, reads_every_key_and_resolves_paths_from_the_config_folder) {
  const auto r = load_string(with_tls(R"(
      ca: certs/ca.pem
      sni: api.example.com
      verify: false
      client_cert: /abs/client.crt
      client_key: client.key
      min_version: "1.3")"),
                             "/etc/lb/t.yaml");
  ASSERT_TRUE(r.cfg) << r.errors[0].str();
  const auto& t = *r.cfg->pools[0].tls;
  EXPECT_EQ(t.ca, "/etc/lb/certs/ca.pem");
  EXPECT_EQ(t.ca_pos.line, 10);
  EXPECT_EQ(t.sni, "api.example.com");
  EXPECT_FALSE(t.verify);
  EXPECT_EQ(t.client_cert, "/abs/client.crt");
  EXPECT_EQ(t.client_key, "/etc/lb/client.key");
  EXPECT_EQ(t.client_key_pos.line, 14);
  EXPECT_EQ(t.min_version, tls_version::tls13);
}

TEST(pool_tls, bad_values_are_reported_where_written) {
  EXPECT_EQ(errors_of(with_tls("maybe")),
            std::vector<std::string>{"t.yaml:9:10: invalid 'tls': expected true, false or a map (ca, sni, verify, "
                                     "client_cert, client_key, min_version), got \"maybe\""});
  EXPECT_EQ(errors_of(with_tls("{ verify: sometimes }")),
            std::vector<std::string>{"t.yaml:9:20: invalid 'verify': expected true or false, got 'sometimes'"});
  EXPECT_EQ(errors_of(with_tls("{ min_version: \"1.1\" }")),
            std::vector<std::string>{
                "t.yaml:9:25: invalid 'min_version' '1.1' (expected one of: 1.2, 1.3; 1.0 and 1.1 are insecure)"});
  EXPECT_EQ(errors_of(with_tls("{ sni: \"bad name\" }")),
            std::vector<std::string>{"t.yaml:9:17: invalid 'sni': expected a DNS name, got \"bad name\""});
  EXPECT_EQ(errors_of(with_tls("{ ca: \"\" }")), std::vector<std::string>{"t.yaml:9:16: 'ca' must name a file"});
  EXPECT_EQ(errors_of(with_tls("{ client_cert: c.pem }")),
            std::vector<std::string>{"t.yaml:9:12: 'client_cert' needs 'client_key' (the certificate's private key)"});
  EXPECT_EQ(errors_of(with_tls("{ client_key: k.pem }")),
            std::vector<std::string>{"t.yaml:9:12: 'client_key' needs 'client_cert'"});
  const auto unknown = errors_of(with_tls("{ cafile: x }"));
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_NE(unknown[0].find("t.yaml:9:12: "), std::string::npos) << unknown[0];
  EXPECT_NE(unknown[0].find("cafile"), std::string::npos) << unknown[0];
}

}  // namespace
}  // namespace lb::config
