#include "lb/control/file_watch.h"

#include <sys/inotify.h>

#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>

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
  std::map<std::string, std::set<std::string>> dirs;
  for (const auto& p : paths) {
    const auto abs = std::filesystem::absolute(p);
    dirs[abs.parent_path().string()].insert(abs.filename().string());
  }
  constexpr auto mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB;
  for (auto& [dir, names] : dirs) {
    const int wd = ::inotify_add_watch(fd, dir.c_str(), mask);
    if (wd >= 0) names_[wd].merge(names);
    else log::warn(warning, {{"dir", dir}, {"error", std::strerror(errno)}});
  }
  if (!names_.empty()) read_events();
}

file_watch::~file_watch() { stop(); }

void file_watch::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  debounce_timer_.cancel();
  fd_.close(ignored);
}

bool file_watch::relevant(std::size_t n) const {
  for (std::size_t at = 0; at + sizeof(inotify_event) <= n;) {
    inotify_event e;
    std::memcpy(&e, events_.data() + at, sizeof e);
    const char* name = events_.data() + at + sizeof e;
    at += sizeof e + e.len;
    // Lost events, or the directory itself (moved, deleted, its attributes).
    if ((e.mask & IN_Q_OVERFLOW) != 0 || e.len == 0) return true;
    const std::string_view n(name, ::strnlen(name, e.len));
    if (n.rfind("..", 0) == 0) return true;  // a Kubernetes volume's `..data` swap
    const auto it = names_.find(e.wd);
    if (it != names_.end() && it->second.count(std::string(n)) != 0) return true;
  }
  return false;
}

void file_watch::read_events() {
  fd_.async_read_some(asio::buffer(events_), [this](boost::system::error_code ec, std::size_t n) {
    if (ec || stopped_) return;
    // A burst of events that may change a watched file (write, rename,
    // symlink swap) becomes one callback.
    if (!pending_ && relevant(n)) {
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
