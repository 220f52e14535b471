// Listener TLS as the loader reads it: client certificates and the headers
// that carry them, redirect_https, OCSP files.
#include "lb/config/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "load_helpers.h"

namespace lb::config {
namespace {

using test_support::errors_of;

TEST(loader, client_certificates_and_their_headers) {
  const auto r = load_string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    tls:
      certificates: [{cert: a.crt, key: a.key}]
      client_ca: ca.pem
      crl: ca.crl
      client_cert_headers: { subject: X-Client-Subject, fingerprint: X-Client-Cert-Sha256 }
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const auto& t = *r.cfg->listeners[0].tls;
  EXPECT_EQ(t.verify, client_verify::required);  // a CA without `verify` means required
  EXPECT_EQ(t.client_ca, "ca.pem");
  EXPECT_EQ(t.crl, "ca.crl");
  EXPECT_EQ(t.subject_header, "x-client-subject");
  EXPECT_EQ(t.fingerprint_header, "x-client-cert-sha256");
}

TEST(loader, client_certificate_mistakes_are_reported_where_they_are) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    tls:
      certificates: [{cert: a.crt, key: a.key}]
      verify: optional
      client_cert_headers: { subject: Content-Length, fingerprint: "a b" }
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)"),
            (std::vector<std::string>{
                "t.yaml:6:15: 'verify: optional' needs 'client_ca' (the CA certificates clients' certificates are "
                "checked against)",
                "t.yaml:7:28: 'client_cert_headers' needs 'client_ca' and 'verify' other than off",
                "t.yaml:7:39: 'subject' may not be 'content-length': lb writes that field itself",
                "t.yaml:7:68: invalid header name 'a b' in 'fingerprint'",
            }));
}

TEST(loader, client_cert_headers_need_an_http_listener) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: db
    listen: 127.0.0.1:8080
    protocol: tcp
    pool: web
    tls:
      certificates: [{cert: a.crt, key: a.key}]
      client_ca: ca.pem
      client_cert_headers: { subject: X-Client-Subject }
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)"),
            (std::vector<std::string>{
                "t.yaml:9:28: 'client_cert_headers' applies only to HTTP listeners",
            }));
}

TEST(loader, redirect_https_answers_without_routes) {
  const auto r = load_string(R"(listeners:
  - name: plain
    listen: 127.0.0.1:8080
    redirect_https: { port: 8443, code: 301 }
  - name: default
    listen: 127.0.0.1:8081
    redirect_https: {}
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  EXPECT_EQ(r.cfg->listeners[0].redirect_https->port, 8443);
  EXPECT_EQ(r.cfg->listeners[0].redirect_https->code, 301u);
  EXPECT_EQ(r.cfg->listeners[1].redirect_https->port, 0);
  EXPECT_EQ(r.cfg->listeners[1].redirect_https->code, 308u);
  EXPECT_EQ(errors_of(R"(listeners:
  - name: plain
    listen: 127.0.0.1:8080
    redirect_https: { code: 302 }
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)"),
            (std::vector<std::string>{
                "t.yaml:4:5: 'redirect_https' answers every request itself: the listener takes no 'routes'",
                "t.yaml:4:29: invalid 'code' 302 (expected 308 or 301)",
            }));
}

TEST(loader, certificate_ocsp_file_is_read_and_resolved_from_the_config_folder) {
  const auto r = load_string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    tls:
      certificates: [{cert: a.crt, key: a.key, ocsp: ocsp/a.der}, {cert: b.crt, key: b.key}]
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)",
                             "/etc/lb/t.yaml");
  ASSERT_TRUE(r.cfg) << r.errors[0].str();
  const auto& certs = r.cfg->listeners[0].tls->certificates;
  EXPECT_EQ(certs[0].ocsp, "/etc/lb/ocsp/a.der");
  EXPECT_EQ(certs[1].ocsp, "");
}

}  // namespace
}  // namespace lb::config
