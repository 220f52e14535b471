#include "lb/config/file_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "load_helpers.h"

namespace lb::config {
namespace {

using test_support::minimal;

// A file under the test's temp dir, removed again at the end of the test.
class temp_file {
 public:
  explicit temp_file(const std::string& name)
      : path_(std::filesystem::path(testing::TempDir()) / name) {}
  ~temp_file() { std::filesystem::remove(path_); }

  void write(const std::string& text) const { std::ofstream(path_, std::ios::binary) << text; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

load_result load_file(const std::string& path) { return file_source(path).load(); }

TEST(file_source, load_file_reads_and_names_the_file) {
  const temp_file file("lb_loader_test.yaml");
  file.write(minimal + "bogus: 1\n");
  const auto r = load_file(file.str());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, file.str());
  EXPECT_EQ(r.errors[0].line, 9);
  EXPECT_EQ(r.errors[0].column, 1);
}

TEST(file_source, unreadable_file_is_a_diagnostic_not_an_exception) {
  auto r = load_file("/nonexistent/lb.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(),
            "/nonexistent/lb.yaml:1:1: cannot read config file: No such file or directory");
  EXPECT_FALSE(r.cfg);

  r = load_file(testing::TempDir());  // a directory opens, then fails to read
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("cannot read config file"), std::string::npos);
}

TEST(file_source, load_returns_the_config_and_the_bytes_as_digest) {
  const temp_file file("lb_file_source_valid.yaml");
  file.write(minimal);
  file_source source(file.str());
  const auto r = source.load();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.cfg->source, file.str());
  ASSERT_EQ(r.cfg->listeners.size(), 1u);
  EXPECT_EQ(r.cfg->listeners[0].name, "web");
  EXPECT_EQ(r.digest, minimal);
  EXPECT_EQ(source.digest(), r.digest);
}

TEST(file_source, invalid_file_still_has_a_digest) {
  // The digest says what was read, valid or not; the caller decides what to keep.
  const temp_file file("lb_file_source_invalid.yaml");
  file.write("listeners: 1\n");
  file_source source(file.str());
  const auto r = source.load();
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.cfg);
  EXPECT_EQ(r.digest, "listeners: 1\n");
}

TEST(file_source, digest_follows_the_file) {
  const temp_file file("lb_file_source_digest.yaml");
  file.write(minimal);
  file_source source(file.str());
  const auto before = source.load().digest;
  EXPECT_EQ(source.digest(), before);
  file.write(minimal + "workers: 2\n");
  EXPECT_NE(source.digest(), before);
  EXPECT_EQ(source.digest(), source.load().digest);
}

TEST(file_source, digest_is_empty_when_unreadable) {
  EXPECT_EQ(file_source("/nonexistent/lb.yaml").digest(), "");
  EXPECT_EQ(file_source(testing::TempDir()).digest(), "");
  EXPECT_EQ(file_source("/nonexistent/lb.yaml").load().digest, "");
}

TEST(file_source, describe_is_the_path) {
  EXPECT_EQ(file_source("config/lb.yaml").describe(), "config/lb.yaml");
  const file_source source("/etc/lb/lb.yaml");
  const config_source& any = source;
  EXPECT_EQ(any.describe(), "/etc/lb/lb.yaml");
}

}  // namespace
}  // namespace lb::config
