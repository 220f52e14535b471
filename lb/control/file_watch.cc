#include "lb/control/file_watch.h"

#include <sys/inotify.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "lb/core/log.h"

namespace lb::control {

namespace asio = boost::asio;

file_watch::file_watch(asio::io_context& io, const std::vector<std::string>& paths,
                       std::chrono::milliseconds debounce, std::function<void()> on_change, std::string_view what)
    : fd_(io), debounce_timer_(io), debounce_(debounce), on_change_(std::move(on_change)) {
  const std::string warning = std::string(what) + " watch unavailable";
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    log::warn(warning, {{"error", std::strerror(errno)}});
    return;
  }
  fd_.assign(fd);
  // The directory as named, not its symlinks resolved: a Secret volume's
  // `..data` swap is a rename in the directory the config names.
  std::set<std::string> dirs;
  for (const auto& p : paths) dirs.insert(std::filesystem::absolute(p).parent_path().string());
  constexpr auto mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB;
  bool any = false;
  for (const auto& dir : dirs) {
    if (::inotify_add_watch(fd, dir.c_str(), mask) >= 0) any = true;
    else log::warn(warning, {{"dir", dir}, {"error", std::strerror(errno)}});
  }
  if (any) read_events();
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
      // Not a member touched on error: a watch destroyed while waiting gets
      // operation_aborted after `this` is gone.
      debounce_timer_.async_wait([this](boost::system::error_code e) {
        if (e || stopped_) return;
        pending_ = false;
        on_change_();
      });
    }
    read_events();
  });
}

}  // namespace lb::control
