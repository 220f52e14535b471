#include "lb/kube/credentials.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "lb/kube/token_source.h"

namespace lb::kube {
namespace {

namespace fs = std::filesystem;

class kube_credentials_test : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lb-kube-creds-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    fs::remove_all(dir_);
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    ::unsetenv("KUBERNETES_SERVICE_PORT");
  }
  std::string write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

// "CA-PEM" and "CERT" in base64.
constexpr const char* ca_b64 = "Q0EtUEVN";
constexpr const char* cert_b64 = "Q0VSVA==";

std::string kubeconfig(const std::string& cluster, const std::string& user, const std::string& extra_ctx = "") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
         "clusters:\n- name: c1\n  cluster:\n" + cluster +
         "contexts:\n- name: dev\n  context:\n    cluster: c1\n    user: u1\n    namespace: shop\n" + extra_ctx +
         "users:\n- name: u1\n  user:\n" + user;
}

TEST(kube_base64, decodes_padded_unpadded_and_wrapped) {
  std::string out;
  ASSERT_TRUE(base64_decode("Q0VSVA==", out));
  EXPECT_EQ(out, "CERT");
  ASSERT_TRUE(base64_decode("Q0VS\nVA", out));
  EXPECT_EQ(out, "CERT");
  ASSERT_TRUE(base64_decode("", out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(base64_decode("Q0V*", out));
  EXPECT_FALSE(base64_decode("Q", out));
  EXPECT_FALSE(base64_decode("QQ==QQ", out));
}

TEST(kube_server_url, parses_names_ips_and_ports) {
  std::string host, why;
  std::uint16_t port = 0;
  ASSERT_TRUE(parse_server_url("https://10.0.0.1:6443", host, port, why));
  EXPECT_EQ(host, "10.0.0.1");
  EXPECT_EQ(port, 6443);
  ASSERT_TRUE(parse_server_url("https://api.example/", host, port, why));
  EXPECT_EQ(host, "api.example");
  EXPECT_EQ(port, 443);
  ASSERT_TRUE(parse_server_url("https://[fd00::1]:8443", host, port, why));
  EXPECT_EQ(host, "fd00::1");
  EXPECT_EQ(port, 8443);
  EXPECT_FALSE(parse_server_url("http://10.0.0.1", host, port, why));
  EXPECT_NE(why.find("https"), std::string::npos);
  EXPECT_FALSE(parse_server_url("https://h:0", host, port, why));
  EXPECT_FALSE(parse_server_url("https://h:70000", host, port, why));
  EXPECT_FALSE(parse_server_url("https://:443", host, port, why));
}

TEST_F(kube_credentials_test, kubeconfig_with_inline_data) {
  const auto path = write("kc", kubeconfig("    server: https://127.0.0.1:6443\n    certificate-authority-data: " +
                                               std::string(ca_b64) + "\n",
                                           "    token: abc\n    client-certificate-data: " + std::string(cert_b64) +
                                               "\n    client-key-data: " + std::string(cert_b64) + "\n"));
  credentials c;
  std::string why;
  ASSERT_TRUE(from_kubeconfig(c, why, path)) << why;
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 6443);
  EXPECT_EQ(c.ca_pem, "CA-PEM");
  EXPECT_EQ(c.token, "abc");
  EXPECT_EQ(c.client_cert_pem, "CERT");
  EXPECT_EQ(c.client_key_pem, "CERT");
  EXPECT_EQ(c.namespace_, "shop");
}

TEST_F(kube_credentials_test, kubeconfig_paths_are_relative_to_its_folder) {
  write("conf/certs/ca.crt", "FILE-CA");
  write("conf/tok", "from-file\n");
  const auto path = write("conf/kc", kubeconfig("    server: https://api.test\n    certificate-authority: certs/ca.crt\n",
                                                "    tokenFile: tok\n"));
  credentials c;
  std::string why;
  ASSERT_TRUE(from_kubeconfig(c, why, path)) << why;
  EXPECT_EQ(c.ca_pem, "FILE-CA");
  EXPECT_EQ(c.token_file, (dir_ / "conf" / "tok").string());
  EXPECT_EQ(c.port, 443);
  token_source t(c);
  EXPECT_EQ(t.current(), "from-file");
}

TEST_F(kube_credentials_test, kubeconfig_errors_are_returned_not_thrown) {
  credentials c;
  std::string why;
  EXPECT_FALSE(from_kubeconfig(c, why, (dir_ / "missing").string()));
  EXPECT_FALSE(why.empty());

  const auto http = write("http", kubeconfig("    server: http://127.0.0.1:8080\n", "    token: t\n"));
  EXPECT_FALSE(from_kubeconfig(c, why, http));
  EXPECT_NE(why.find("https"), std::string::npos) << why;

  const auto bad64 = write("bad64", kubeconfig("    server: https://h\n    certificate-authority-data: '*'\n", "    {}\n"));
  EXPECT_FALSE(from_kubeconfig(c, why, bad64));
  EXPECT_NE(why.find("base64"), std::string::npos) << why;

  const auto exec = write("exec", kubeconfig("    server: https://h\n", "    exec:\n      command: aws\n"));
  EXPECT_FALSE(from_kubeconfig(c, why, exec));
  EXPECT_NE(why.find("exec"), std::string::npos) << why;

  const auto ok = write("ok", kubeconfig("    server: https://h\n", "    token: t\n"));
  EXPECT_FALSE(from_kubeconfig(c, why, ok, "other"));
  EXPECT_NE(why.find("no context 'other'"), std::string::npos) << why;

  const auto no_key = write("nokey", kubeconfig("    server: https://h\n", "    client-certificate-data: Q0VSVA==\n"));
  EXPECT_FALSE(from_kubeconfig(c, why, no_key));

  EXPECT_FALSE(from_kubeconfig(c, why, write("garbage", "[: not yaml")));
}

TEST_F(kube_credentials_test, in_cluster_reads_env_and_the_service_account_folder) {
  credentials c;
  std::string why;
  EXPECT_FALSE(from_in_cluster(c, why, dir_.string()));
  EXPECT_NE(why.find("KUBERNETES_SERVICE_HOST"), std::string::npos);

  ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  EXPECT_FALSE(from_in_cluster(c, why, dir_.string()));  // no token yet
  write("token", "sa-token\n");
  write("ca.crt", "SA-CA");
  write("namespace", "kube-system\n");
  ASSERT_TRUE(from_in_cluster(c, why, dir_.string())) << why;
  EXPECT_EQ(c.host, "fd00::1");
  EXPECT_EQ(c.port, 443);
  EXPECT_EQ(c.ca_pem, "SA-CA");
  EXPECT_EQ(c.namespace_, "kube-system");
  EXPECT_EQ(c.token_file, (dir_ / "token").string());
  EXPECT_TRUE(c.token.empty());
}

TEST_F(kube_credentials_test, a_token_file_is_reread_when_it_rotates) {
  credentials c;
  c.token = "fixed";
  c.token_file = write("token", "one\n");
  token_source t(c);
  EXPECT_EQ(t.current(), "one");
  EXPECT_FALSE(t.refresh());
  write("token.new", "two");
  fs::rename(dir_ / "token.new", dir_ / "token");
  EXPECT_EQ(t.current(), "two");
  fs::remove(dir_ / "token");
  EXPECT_EQ(t.current(), "two");  // kept while the file is missing, and said why
  EXPECT_FALSE(t.warning().empty());

  credentials fixed;
  fixed.token = "fixed";
  token_source f(fixed);
  EXPECT_EQ(f.current(), "fixed");
  EXPECT_FALSE(f.refresh());
}

}  // namespace
}  // namespace lb::kube
