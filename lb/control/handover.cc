#include "lb/control/handover.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "lb/core/log.h"

namespace lb::control {

namespace {

constexpr std::string_view prefix = "lb-handover 1 ";
constexpr std::size_t max_text = 512;

constexpr std::array<std::pair<handover_message::kind, std::string_view>, 5> kind_names{{
    {handover_message::kind::listener, "listener"},
    {handover_message::kind::admin, "admin"},
    {handover_message::kind::end, "end"},
    {handover_message::kind::ready, "ready"},
    {handover_message::kind::failed, "failed"},
}};

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

std::string encode(const handover_message& m) {
  std::string out(prefix);
  for (const auto& [k, name] : kind_names)
    if (k == m.what) out.append(name);
  if (m.what != handover_message::kind::end) {
    out.push_back(' ');
    // One datagram, one line: a reason with a newline must not forge another message.
    for (char c : m.arg) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  }
  if (out.size() > max_text) out.resize(max_text);
  return out;
}

std::optional<handover_message> decode(std::string_view text) {
  if (text.size() > max_text || text.substr(0, prefix.size()) != prefix) return std::nullopt;
  text.remove_prefix(prefix.size());
  const auto space = text.find(' ');
  const auto name = text.substr(0, space);
  const std::string_view arg = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
  for (const auto& [k, n] : kind_names) {
    if (n != name) continue;
    handover_message m{k, std::string(arg)};
    const bool needs_arg = k != handover_message::kind::end;
    if (needs_arg == (space == std::string_view::npos) || (needs_arg && arg.empty())) return std::nullopt;
    if (k == handover_message::kind::ready && arg.find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    return m;
  }
  return std::nullopt;
}

owned_fds& owned_fds::operator=(owned_fds&& o) noexcept {
  if (this != &o) {
    for (int fd : fds_) ::close(fd);
    fds_ = std::move(o.fds_);
    o.fds_.clear();
  }
  return *this;
}

owned_fds::~owned_fds() {
  for (int fd : fds_) ::close(fd);
}

bool owned_fds::dup_of(int fd) {
  const int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return false;
  fds_.push_back(d);
  return true;
}

handed_sockets& handed_sockets::operator=(handed_sockets&& o) noexcept {
  if (this != &o) {
    for (auto& e : entries_)
      for (int fd : e.fds) ::close(fd);
    entries_ = std::move(o.entries_);
    o.entries_.clear();
  }
  return *this;
}

handed_sockets::~handed_sockets() {
  for (auto& e : entries_)
    for (int fd : e.fds) ::close(fd);
}

void handed_sockets::add(handover_message::kind what, const std::string& address, std::vector<int> fds) {
  for (auto& e : entries_) {
    if (e.what == what && e.address == address) {
      e.fds.insert(e.fds.end(), fds.begin(), fds.end());
      return;
    }
  }
  entries_.push_back({what, address, std::move(fds)});
}

std::vector<int> handed_sockets::take(handover_message::kind what, const std::string& address) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->what != what || it->address != address) continue;
    auto fds = std::move(it->fds);
    entries_.erase(it);
    return fds;
  }
  return {};
}

std::size_t handed_sockets::left() const {
  std::size_t n = 0;
  for (const auto& e : entries_) n += e.fds.size();
  return n;
}

std::string send_message(int sock, const handover_message& m, const std::vector<int>& fds) {
  if (fds.size() > max_fds_per_message) return "too many descriptors in one message";
  const auto text = encode(m);
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    const ssize_t n = ::sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(text.size())) return {};
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? errno_text("sendmsg") : "sendmsg: short write";
  }
}

std::string receive_message(int sock, std::chrono::milliseconds timeout, handover_message& m, std::vector<int>& fds) {
  fds.clear();
  pollfd p{sock, POLLIN, 0};
  int rc;
  do rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return errno_text("poll");
  if (rc == 0) return "timeout";
  std::array<char, max_text + 1> text;
  iovec iov{text.data(), text.size()};
  // Room for one message's descriptors.
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * max_fds_per_message)> control;
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno_text("recvmsg");
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const std::size_t at = fds.size();
    fds.resize(at + count);
    std::memcpy(fds.data() + at, CMSG_DATA(c), sizeof(int) * count);
  }
  auto fail = [&](std::string why) {
    for (int fd : fds) ::close(fd);
    fds.clear();
    return why;
  };
  if (n == 0) return fail("closed");
  if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) return fail("message truncated");
  auto decoded = decode(std::string_view(text.data(), static_cast<std::size_t>(n)));
  if (!decoded) return fail("malformed message");
  m = std::move(*decoded);
  return {};
}

std::string receive_sockets(int sock, std::chrono::milliseconds timeout, handed_sockets& out) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    handover_message m;
    std::vector<int> fds;
    if (auto e = receive_message(sock, std::max(left, std::chrono::milliseconds(0)), m, fds); !e.empty()) return e;
    switch (m.what) {
      case handover_message::kind::end: return {};
      case handover_message::kind::listener:
      case handover_message::kind::admin: out.add(m.what, m.arg, std::move(fds)); break;
      default:
        for (int fd : fds) ::close(fd);
        return "unexpected message";
    }
  }
}

handover_in::~handover_in() {
  if (fd_ >= 0) ::close(fd_);
}

bool handover_in::receive() {
  const char* env = std::getenv(upgrade_fd_env);
  if (env == nullptr) return true;
  fd_ = std::atoi(env);
  ::unsetenv(upgrade_fd_env);  // not for this process's own upgrades
  if (auto e = receive_sockets(fd_, std::chrono::seconds(10), sockets_); !e.empty()) {
    log::error("upgrade: cannot receive the listening sockets", {{"error", e}});
    return false;
  }
  log::info("upgrade: listening sockets received",
            {{"sockets", std::to_string(sockets_.left())}, {"from_pid", std::to_string(::getppid())}});
  return true;
}

void handover_in::ready() {
  sockets_ = handed_sockets();
  if (fd_ < 0) return;
  if (auto e = send_message(fd_, {handover_message::kind::ready, std::to_string(::getpid())}); !e.empty())
    log::warn("upgrade: cannot tell the old process", {{"error", e}});
  ::close(fd_);
  fd_ = -1;
}

void handover_in::failed(const std::string& why) {
  if (fd_ < 0) return;
  send_message(fd_, {handover_message::kind::failed, why});
  ::close(fd_);
  fd_ = -1;
}

}  // namespace lb::control
