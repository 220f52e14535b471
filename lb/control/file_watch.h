#pragma once
// Calls back when a file may have changed on disk (the config file; the TLS
// certificates, keys and OCSP responses). Watches each file's directory with
// inotify rather than the file itself, because editors replace files by
// rename and Kubernetes ConfigMap and Secret volumes swap a `..data` symlink:
// neither touches the inode a file watch would hold. Only events that name a
// watched file, a `..`-prefixed entry (the Secret volume's swap) or the
// directory itself count: a busy directory (logs, other tools' files) costs
// no reload. Events are debounced; the callback compares contents itself.

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace lb::control {

class file_watch {
 public:
  // Thread: control. Watches the directory holding `path`. Without inotify
  // (or on error) it logs a warning and does nothing: SIGHUP and POST /reload
  // still work.
  file_watch(boost::asio::io_context& io, const std::string& path, std::chrono::milliseconds debounce,
             std::function<void()> on_change)
      : file_watch(io, std::vector<std::string>{path}, debounce, std::move(on_change), "config file") {}
  // The same for several files; `what` names them in warnings.
  file_watch(boost::asio::io_context& io, const std::vector<std::string>& paths, std::chrono::milliseconds debounce,
             std::function<void()> on_change, std::string_view what);
  ~file_watch();

  void stop();

 private:
  void read_events();
  // Whether the events read into events_ may change a watched file.
  bool relevant(std::size_t n) const;

  boost::asio::posix::stream_descriptor fd_;
  boost::asio::steady_timer debounce_timer_;
  std::chrono::milliseconds debounce_;
  std::function<void()> on_change_;
  // Whole inotify_event records (the kernel returns only whole ones), aligned for them.
  alignas(8) std::array<char, 4096> events_{};
  std::map<int, std::set<std::string>> names_;  // per watch descriptor: the file names that count
  bool stopped_ = false;
  bool pending_ = false;
};

}  // namespace lb::control
