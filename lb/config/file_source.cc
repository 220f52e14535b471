#include "lb/config/file_source.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "lb/config/loader.h"

namespace lb::config {
namespace {

// Appends the whole file to `out`; false with `err` set when it cannot be read.
bool read_all(const std::string& path, std::string& out, int& err) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    err = errno;
    return false;
  }
  char buf[16384];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool failed = std::ferror(f);
  err = errno;  // a directory opens fine and fails here with EISDIR
  std::fclose(f);
  return !failed;
}

}  // namespace

load_result file_source::load() {
  std::string text;
  int err = 0;
  if (!read_all(path_, text, err)) {
    load_result out;
    out.errors.push_back(
        {path_, 1, 1, "cannot read config file: " + std::string(std::strerror(err))});
    return out;
  }
  auto out = load_string(text, path_, opts_);
  out.digest = std::move(text);
  return out;
}

std::string file_source::digest() {
  std::string text;
  int err = 0;
  if (!read_all(path_, text, err)) return {};
  return text;
}

}  // namespace lb::config
