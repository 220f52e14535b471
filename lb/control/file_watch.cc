#include "lb/control/file_watch.h"

#include <sys/inotify.h>

#include <filesystem>

#include "lb/core/log.h"

namespace lb::control {

namespace asio = boost::asio;

file_watch::file_watch(asio::io_context& io, const std::string& path, std::chrono::milliseconds debounce,
                       std::function<void()> on_change)
    : fd_(io), debounce_timer_(io), debounce_(debounce), on_change_(std::move(on_change)) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    log::warn("config file watch unavailable", {{"error", std::strerror(errno)}});
    return;
  }
  fd_.assign(fd);
  auto dir = std::filesystem::absolute(path).parent_path().string();
  constexpr auto mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB;
  if (::inotify_add_watch(fd, dir.c_str(), mask) < 0) {
    log::warn("config file watch unavailable", {{"dir", dir}, {"error", std::strerror(errno)}});
    return;
  }
  read_events();
}

file_watch::~file_watch() { stop(); }

void file_watch::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  debounce_timer_.cancel();
  fd_.close(ignored);
}

void file_watch::read_events() {
  fd_.async_read_some(asio::buffer(events_), [this](boost::system::error_code ec, std::size_t) {
    if (ec || stopped_) return;
    // Any event in the directory may be the file changing; a burst of them
    // (write, rename, symlink swap) becomes one callback.
    if (!pending_) {
      pending_ = true;
      debounce_timer_.expires_after(debounce_);
      debounce_timer_.async_wait([this](boost::system::error_code e) {
        pending_ = false;
        if (!e && !stopped_) on_change_();
      });
    }
    read_events();
  });
}

}  // namespace lb::control
