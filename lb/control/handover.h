#pragma once
// The binary-upgrade handover between a running lb and the new one it starts
// (HAProxy's `-x`, nginx's binary upgrade): listening sockets travel over a
// Unix SOCK_SEQPACKET pair with SCM_RIGHTS, one message per address; the new
// process answers `ready PID` once it serves, or `failed REASON`.
//
// Wire: each message is one datagram of text, `lb-handover 1 KIND ARG`, with
// the descriptors of a `listener` or `admin` message attached:
//   old -> new   listener ADDRESS   (the listener's SO_REUSEPORT sockets)
//                admin ADDRESS      (the admin server's socket)
//                end
//   new -> old   ready PID | failed REASON

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lb::control {

// The environment variable that tells a new process its end of the pair.
inline constexpr const char* upgrade_fd_env = "LB_UPGRADE_FD";

struct handover_message {
  enum class kind { listener, admin, end, ready, failed };
  kind what = kind::end;
  std::string arg;  // address, pid or reason; empty for `end`
};

// Pure: the datagram's text, and back (nullopt for anything else, so a
// stranger's bytes or another version's are refused, not guessed at).
std::string encode(const handover_message& m);
std::optional<handover_message> decode(std::string_view text);

// Descriptors this process owns, closed with it (move-only).
class owned_fds {
 public:
  owned_fds() = default;
  owned_fds(owned_fds&& o) noexcept : fds_(std::move(o.fds_)) { o.fds_.clear(); }
  owned_fds& operator=(owned_fds&& o) noexcept;
  owned_fds(const owned_fds&) = delete;
  owned_fds& operator=(const owned_fds&) = delete;
  ~owned_fds();
  // Keeps a close-on-exec duplicate of `fd`; false if none could be made.
  bool dup_of(int fd);
  const std::vector<int>& fds() const { return fds_; }

 private:
  std::vector<int> fds_;
};

// Descriptors received from the old process, by what they served and the
// configured address. Owns them: what no listener takes closes with it.
class handed_sockets {
 public:
  handed_sockets() = default;
  handed_sockets(handed_sockets&& o) noexcept : entries_(std::move(o.entries_)) { o.entries_.clear(); }
  handed_sockets& operator=(handed_sockets&& o) noexcept;
  handed_sockets(const handed_sockets&) = delete;
  handed_sockets& operator=(const handed_sockets&) = delete;
  ~handed_sockets();

  // Adds `fds` under (what, address); a second message for the same pair appends.
  void add(handover_message::kind what, const std::string& address, std::vector<int> fds);
  // Pure matching: the descriptors handed for exactly this configured address
  // (as config::address::str() spells it), now the caller's; none if no match.
  std::vector<int> take(handover_message::kind what, const std::string& address);
  // Descriptors nobody took yet.
  std::size_t left() const;

 private:
  struct entry {
    handover_message::kind what;
    std::string address;
    std::vector<int> fds;
  };
  std::vector<entry> entries_;
};

// Sends one message with `fds` attached (at most max_fds_per_message; the
// caller splits). Never blocks. Returns an error text, or empty on success.
inline constexpr std::size_t max_fds_per_message = 250;
std::string send_message(int sock, const handover_message& m, const std::vector<int>& fds = {});

// Receives one message within `timeout` (descriptors arrive close-on-exec).
// Returns an error text ("timeout", "closed", ...) or empty on success.
std::string receive_message(int sock, std::chrono::milliseconds timeout, handover_message& m, std::vector<int>& fds);

// The new process: reads every message up to `end` from `sock`.
// Returns an error text or empty on success.
std::string receive_sockets(int sock, std::chrono::milliseconds timeout, handed_sockets& out);

// The new process's side, for its whole startup: the channel named by
// upgrade_fd_env (then removed from the environment) and the sockets.
class handover_in {
 public:
  handover_in() = default;
  ~handover_in();
  handover_in(const handover_in&) = delete;
  handover_in& operator=(const handover_in&) = delete;

  // Thread: main, before other threads. Receives the sockets when this
  // process was started by an upgrade. Returns false (logged) on failure.
  bool receive();
  bool active() const { return fd_ >= 0; }
  // The descriptors handed for (what, address), now the caller's; none if no match.
  std::vector<int> take(handover_message::kind what, const std::string& address) { return sockets_.take(what, address); }
  // Serving: closes what no listener took and tells the old process, which drains.
  void ready();
  // Startup failed: tells the old process why (it keeps serving).
  void failed(const std::string& why);

 private:
  int fd_ = -1;
  handed_sockets sockets_;
};

}  // namespace lb::control
