#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "lb/accesslog/access_log.h"

namespace lb::accesslog {
namespace {

namespace fs = std::filesystem;

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "lb-accesslog-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

config::access_log file_cfg(const fs::path& p) {
  config::access_log c;
  c.type = config::access_log::kind::file;
  c.path = p.string();
  return c;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(s.substr(start, nl - start + 1));
  if (start != s.size()) out.push_back(s.substr(start));  // a torn last line (no '\n')
  return out;
}

// Record i of thread t; its path is "/t/<t>/<i>".
struct numbered {
  numbered(int t, int i) : path("/t/" + std::to_string(t) + "/" + std::to_string(i)) {
    r.start_unix_us = 1714566896000000 + i;
    r.listener = "web";
    r.route = "r";
    r.pool = "p";
    r.endpoint = "10.0.0.1:80";
    r.client = "192.0.2.1";
    r.method = "POST";
    r.path = path;
    r.status = 201;
    r.bytes_in = static_cast<std::uint64_t>(i);
    r.bytes_out = static_cast<std::uint64_t>(t);
    r.duration = 0.001;
    r.upstream_duration = 0.0005;
    r.attempts = 1;
  }
  std::string line() const {
    std::string s;
    format(s, r);
    return s;
  }
  std::string path;
  record r;
};

// (t, i) from a line written for numbered(t, i); checks the line is exact.
std::pair<int, int> parse_numbered(const std::string& line) {
  const std::string key = "\"path\":\"/t/";
  const auto at = line.find(key);
  if (at == std::string::npos) return {-1, -1};
  int t = -1, i = -1;
  if (std::sscanf(line.c_str() + at + key.size(), "%d/%d", &t, &i) != 2) return {-1, -1};
  if (numbered(t, i).line() != line) return {-1, -1};
  return {t, i};
}

// Checks that `lines` hold exactly records 0..per_thread-1 of each of
// `threads` threads, each thread's in order, every line whole.
void expect_all_in_order(const std::vector<std::string>& lines, int threads, int per_thread) {
  std::vector<int> next(static_cast<std::size_t>(threads), 0);
  for (const auto& line : lines) {
    const auto [t, i] = parse_numbered(line);
    ASSERT_GE(t, 0) << "bad line: " << line;
    ASSERT_LT(t, threads);
    ASSERT_EQ(i, next[static_cast<std::size_t>(t)]) << "thread " << t;
    ++next[static_cast<std::size_t>(t)];
  }
  for (int t = 0; t < threads; ++t) EXPECT_EQ(next[static_cast<std::size_t>(t)], per_thread) << "thread " << t;
}

bool wait_for(const std::function<bool()>& cond) {
  for (int n = 0; n < 500; ++n) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

TEST(accesslog_sink, off_creates_no_sink) {
  config::access_log c;
  c.type = config::access_log::kind::off;
  EXPECT_EQ(sink::open(c), nullptr);
}

TEST(accesslog_sink, open_failure_names_the_path) {
  temp_dir dir;
  const auto p = dir / "no-such-dir" / "access.log";
  try {
    sink::open(file_cfg(p));
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
  }
}

TEST(accesslog_sink, file_is_created_0644_and_appended_to) {
  temp_dir dir;
  const auto p = dir / "access.log";
  {
    std::ofstream(p) << "existing\n";
  }
  const mode_t old_umask = ::umask(0);
  auto s = sink::open(file_cfg(dir / "new.log"));
  ::umask(old_umask);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "new.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  s->close();

  s = sink::open(file_cfg(p));
  s->submit("a\n");
  s->submit(std::string());
  s->submit("b\nc\n");
  s->close();
  EXPECT_EQ(slurp(p), "existing\na\nb\nc\n");
  EXPECT_EQ(s->dropped(), 0u);
}

TEST(accesslog_sink, many_threads_then_close_gives_exactly_n_whole_lines) {
  temp_dir dir;
  const auto p = dir / "access.log";
  auto s = sink::open(file_cfg(p));
  constexpr int kThreads = 8, kPerThread = 10000;
  std::vector<std::jthread> threads;  // joined even if a check throws
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      writer w(s);
      for (int i = 0; i < kPerThread; ++i) {
        w.append(numbered(t, i).r);
        if (i % 1000 == 999) w.flush();  // a sweep now and then
      }
    });  // the writer's destructor flushes the rest
  }
  for (auto& th : threads) th.join();
  s->close();
  const std::string data = slurp(p);
  ASSERT_FALSE(data.empty());
  EXPECT_EQ(data.back(), '\n');
  const auto lines = lines_of(data);
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kPerThread));
  expect_all_in_order(lines, kThreads, kPerThread);
  EXPECT_EQ(s->dropped(), 0u);
}

TEST(accesslog_sink, close_is_idempotent_and_later_submits_are_dropped) {
  temp_dir dir;
  const auto p = dir / "access.log";
  auto s = sink::open(file_cfg(p));
  s->submit("one\n");
  s->close();
  s->close();
  s->submit("two\nthree\n");
  EXPECT_EQ(s->dropped(), 2u);
  s.reset();  // the destructor's close() is a no-op now
  EXPECT_EQ(slurp(p), "one\n");
}

TEST(accesslog_sink, reopen_after_rename_splits_at_the_reopen) {
  temp_dir dir;
  const auto p = dir / "access.log";
  const auto rotated = dir / "access.log.1";
  auto s = sink::open(file_cfg(p));
  writer w(s);
  constexpr int kEach = 3000;  // several 64 KiB hand-offs on each side
  for (int i = 0; i < kEach; ++i) w.append(numbered(0, i).r);
  w.flush();
  fs::rename(p, rotated);  // logrotate moves the file...
  s->reopen();             // ...then sends SIGUSR1
  for (int i = kEach; i < 2 * kEach; ++i) w.append(numbered(0, i).r);
  w.flush();
  s->close();

  const auto old_lines = lines_of(slurp(rotated));
  const auto new_lines = lines_of(slurp(p));
  ASSERT_EQ(old_lines.size(), static_cast<std::size_t>(kEach));
  ASSERT_EQ(new_lines.size(), static_cast<std::size_t>(kEach));
  for (int i = 0; i < kEach; ++i) {
    ASSERT_EQ(old_lines[static_cast<std::size_t>(i)], numbered(0, i).line());
    ASSERT_EQ(new_lines[static_cast<std::size_t>(i)], numbered(0, kEach + i).line());
  }
}

TEST(accesslog_sink, reopen_when_idle_creates_the_new_file_at_once) {
  temp_dir dir;
  const auto p = dir / "access.log";
  auto s = sink::open(file_cfg(p));
  s->submit("old\n");
  ASSERT_TRUE(wait_for([&] { return slurp(p) == "old\n"; }));
  fs::rename(p, dir / "access.log.1");
  s->reopen();
  EXPECT_TRUE(wait_for([&] { return fs::exists(p); }));
  s->submit("new\n");
  s->close();
  EXPECT_EQ(slurp(dir / "access.log.1"), "old\n");
  EXPECT_EQ(slurp(p), "new\n");
}

TEST(accesslog_sink, rotations_under_load_lose_and_split_nothing) {
  temp_dir dir;
  const auto p = dir / "access.log";
  auto s = sink::open(file_cfg(p));
  constexpr int kThreads = 4, kPerThread = 20000, kRotations = 6;
  std::vector<std::jthread> threads;  // joined even if a check throws
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      writer w(s);
      for (int i = 0; i < kPerThread; ++i) {
        w.append(numbered(t, i).r);
        if (i % 97 == 0) w.flush();
        if (i % 1000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  for (int n = 1; n <= kRotations; ++n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    fs::rename(p, dir / ("access.log." + std::to_string(n)));
    s->reopen();
    // The writer thread reopens before its next write: wait for that before
    // moving the file again (as logrotate's next run would be much later).
    ASSERT_TRUE(wait_for([&] { return fs::exists(p); }));
  }
  for (auto& th : threads) th.join();
  s->close();
  EXPECT_EQ(s->dropped(), 0u);

  std::vector<std::string> all;
  for (int n = 1; n <= kRotations; ++n) {
    const auto path = dir / ("access.log." + std::to_string(n));
    ASSERT_TRUE(fs::exists(path));
    const std::string data = slurp(path);
    if (!data.empty()) {
      EXPECT_EQ(data.back(), '\n') << path;  // nothing split across files
    }
    for (auto& l : lines_of(data)) all.push_back(std::move(l));
  }
  const std::string last = slurp(p);
  if (!last.empty()) {
    EXPECT_EQ(last.back(), '\n');
  }
  for (auto& l : lines_of(last)) all.push_back(std::move(l));
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  expect_all_in_order(all, kThreads, kPerThread);
}

TEST(accesslog_sink, failed_reopen_keeps_writing_to_the_old_file) {
  temp_dir dir;
  fs::create_directory(dir / "logs");
  const auto p = dir / "logs" / "access.log";
  auto s = sink::open(file_cfg(p));
  s->submit("one\n");
  fs::rename(dir / "logs", dir / "moved");  // the path cannot be reopened
  s->reopen();
  s->submit("two\n");
  s->close();
  EXPECT_EQ(slurp(dir / "moved" / "access.log"), "one\ntwo\n");
  EXPECT_EQ(s->dropped(), 0u);
}

TEST(accesslog_sink, stuck_output_drops_whole_buffers_past_64_mib) {
  temp_dir dir;
  const auto p = dir / "fifo";
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  // A reader that reads nothing yet: the writer thread blocks once the pipe is full.
  const int rd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(rd, 0);
  auto s = sink::open(file_cfg(p));

  constexpr std::size_t kLine = 1024, kLinesPerBuffer = 1024, kBuffers = 100;
  const std::string line = std::string(kLine - 1, 'x') + "\n";
  std::string buffer;
  for (std::size_t n = 0; n < kLinesPerBuffer; ++n) buffer += line;  // 1 MiB
  for (std::size_t n = 0; n < kBuffers; ++n) s->submit(std::string(buffer));
  // No buffer can be written whole, so exactly 64 MiB are pending and the
  // other 36 buffers were dropped, without blocking submit().
  EXPECT_EQ(s->dropped(), (kBuffers - 64) * kLinesPerBuffer);

  std::atomic<bool> closed{false};
  std::jthread closer([&] {
    s->close();
    closed = true;
  });
  // Drain the pipe until close() is done and the writer's end is closed.
  std::size_t total = 0;
  std::vector<char> chunk(1 << 16);
  ::fcntl(rd, F_SETFL, 0);  // blocking reads from here on
  for (;;) {
    const ssize_t n = ::read(rd, chunk.data(), chunk.size());
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EOF: close() closed the write end
  }
  closer.join();
  ::close(rd);
  EXPECT_TRUE(closed);
  EXPECT_EQ(total, 64 * kLinesPerBuffer * kLine);
  EXPECT_EQ(s->dropped(), (kBuffers - 64) * kLinesPerBuffer);
}

TEST(accesslog_sink, write_errors_count_dropped_lines) {
  config::access_log c;
  c.type = config::access_log::kind::file;
  c.path = "/dev/full";  // every write fails with ENOSPC
  if (::access(c.path.c_str(), W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  auto s = sink::open(c);
  s->submit("a\nb\n");
  s->submit("c\n");
  s->close();
  EXPECT_EQ(s->dropped(), 3u);
}

TEST(accesslog_sink, stdout_kind_writes_to_fd_1) {
  temp_dir dir;
  const auto p = dir / "stdout.txt";
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ::dup2(fd, STDOUT_FILENO);
  ::close(fd);
  config::access_log c;
  c.type = config::access_log::kind::stdout_;
  auto s = sink::open(c);
  {
    writer w(s);
    w.append(numbered(0, 0).r);
  }
  s->reopen();  // a no-op for stdout
  s->submit("x\n");
  s->close();
  ::dup2(saved, STDOUT_FILENO);  // fd 1 was not closed by the sink
  ::close(saved);
  EXPECT_EQ(slurp(p), numbered(0, 0).line() + "x\n");
}

}  // namespace
}  // namespace lb::accesslog
