#include "lb/control/file_watch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace lb::control {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class file_watch_test : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lb-file-watch-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    write("tls.crt", "one");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  // Runs the watch's io_context past its debounce; returns the callbacks seen.
  int settle() {
    io_.restart();
    io_.run_for(400ms);
    return std::exchange(calls_, 0);
  }

  fs::path dir_;
  boost::asio::io_context io_;
  int calls_ = 0;
};

TEST_F(file_watch_test, a_watched_file_written_calls_back_once_per_burst) {
  file_watch w(io_, {(dir_ / "tls.crt").string()}, 50ms, [this] { ++calls_; }, "test");
  write("tls.crt", "two");
  write("tls.crt", "three");
  EXPECT_EQ(settle(), 1);
}

TEST_F(file_watch_test, other_files_in_the_folder_do_not_count) {
  file_watch w(io_, {(dir_ / "tls.crt").string()}, 50ms, [this] { ++calls_; }, "test");
  write("access.log", "a line");
  write("tls.crt.swp", "an editor's");
  fs::remove(dir_ / "access.log");
  EXPECT_EQ(settle(), 0);
}

TEST_F(file_watch_test, a_file_renamed_into_place_counts) {
  file_watch w(io_, {(dir_ / "tls.crt").string()}, 50ms, [this] { ++calls_; }, "test");
  write("tls.crt.new", "two");
  fs::rename(dir_ / "tls.crt.new", dir_ / "tls.crt");
  EXPECT_EQ(settle(), 1);
}

TEST_F(file_watch_test, a_kubernetes_volume_swap_counts) {
  // A Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..2026_12_06; an
  // update renames a new ..data over the old one.
  fs::create_directory(dir_ / "..2026_12_06_a");
  std::ofstream(dir_ / "..2026_12_06_a" / "tls.key") << "k";
  fs::create_directory_symlink("..2026_12_06_a", dir_ / "..data");
  fs::create_symlink("..data/tls.key", dir_ / "tls.key");
  file_watch w(io_, {(dir_ / "tls.key").string()}, 50ms, [this] { ++calls_; }, "test");
  fs::create_directory(dir_ / "..2026_12_06_b");
  std::ofstream(dir_ / "..2026_12_06_b" / "tls.key") << "k2";
  fs::create_directory_symlink("..2026_12_06_b", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  EXPECT_EQ(settle(), 1);
}

}  // namespace
}  // namespace lb::control
