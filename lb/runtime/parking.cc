#include "lb/runtime/parking.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <new>
#include <utility>

#include "lb/core/log.h"
#include "lb/runtime/memory.h"
#include "lb/runtime/session_base.h"
#include "lb/runtime/worker.h"

namespace lb::runtime {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

int make_epoll_set() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw boost::system::system_error(errno, boost::system::system_category(), "epoll_create1");
  return fd;
}

}  // namespace

// A parked connection: a session_base (so the worker's sweep, drain and
// force-close reach it) holding only what resuming needs.
class parked_connection final : public session_base {
 public:
  parked_connection(parking_lot& lot, connection_ticket&& ticket, io::released stream, const resume_state& st,
                    clock::time_point deadline, resume_fn resume)
      : session_base(std::move(ticket)), lot_(lot), state_(st), stream_(stream), resume_(resume) {
    set_deadline_at(deadline);
    lot_.w_.link(this);
  }

  ~parked_connection() override {
    lot_.w_.unlink(this);
    io::discard(stream_);
  }

  // Registers the socket in the set, one-shot: it fires once, then stays
  // registered but disarmed, so parking the same socket again is a MOD.
  bool enter() {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.ptr = this;
    const int set = lot_.set_.native_handle();
    int rc = ::epoll_ctl(set, state_.in_lot ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, stream_.fd, &ev);
    if (rc != 0 && errno == ENOENT) rc = ::epoll_ctl(set, EPOLL_CTL_ADD, stream_.fd, &ev);
    if (rc != 0) {
      log::warn("cannot park an idle connection", {{"error", error_code(errno, boost::system::system_category()).message()}});
      return false;
    }
    state_.in_lot = true;
    return true;
  }

  // The socket is readable: become a session again, unless the client just
  // went away. Clients closing their idle connections (a pool shutting down,
  // a browser closing) is common: that costs one peek, not a session.
  void wake(std::uint32_t events) {
    if (events & (EPOLLHUP | EPOLLERR)) {
      delete this;
      return;
    }
    if (events & EPOLLRDHUP) {
      // Half-closed: serve whatever request came before the FIN, if any.
      char byte;
      if (::recv(stream_.fd, &byte, 1, MSG_PEEK) <= 0) {
        delete this;
        return;
      }
    }
    auto ticket = std::move(ticket_);
    const resume_state st = state_;
    const auto stream = std::exchange(stream_, io::released{});
    worker& w = lot_.w_;
    const resume_fn resume = resume_;
    const auto until = deadline();
    delete this;
    // Out of memory this connection ends (resume owns and closes `stream`);
    // the rest of the batch and the lot's watch go on.
    try {
      resume(w, std::move(ticket), stream, st, until);
    } catch (const std::bad_alloc&) {
      memory::note_failure(memory::plane::http1);
    }
  }

  // Idle past idle_timeout or forced: an idle connection just closes.
  void on_timeout() override { delete this; }
  void on_memory_pressure() override { delete this; }
  void on_force_close() override { delete this; }
  // Draining. A request that already arrived is served first (the session
  // answers it with `Connection: close`): closing with it unread would send
  // an RST and lose it. On an upgrade's handover the record stays parked
  // until the client's next request or close, or its deadline.
  void on_drain() override {
    if (lot_.w_.handing_over()) return;
    char byte;
    if (::recv(stream_.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
      wake(EPOLLIN);
      return;
    }
    delete this;
  }

 private:
  parking_lot& lot_;
  resume_state state_;
  io::released stream_;  // the descriptor, and the TLS session of a TLS connection
  resume_fn resume_;
};

// The idle-memory figure rests on this: one allocation of jemalloc's
// 128-byte size class per parked connection.
static_assert(sizeof(parked_connection) <= 128, "a parked connection must stay within 128 bytes");

parking_lot::parking_lot(worker& w) : w_(w), set_(w.io(), make_epoll_set()) {}

parking_lot::~parking_lot() = default;

void parking_lot::start() { arm(); }

void parking_lot::stop() {
  error_code ignored;
  set_.cancel(ignored);
}

void parking_lot::park(connection_ticket ticket, io::released stream, const resume_state& st, clock::time_point deadline,
                       resume_fn resume) {
  parked_connection* p = nullptr;
  try {
    p = new parked_connection(*this, std::move(ticket), stream, st, deadline, resume);
  } catch (const std::bad_alloc&) {
    io::discard(stream);  // the connection ends; its ticket went with the throw
    memory::note_failure(memory::plane::http1);
    return;
  }
  // A worker draining to exit keeps no idle connection; one handing over to
  // a new process keeps it until its next request (worker::begin_drain).
  // Over memory_high none is kept.
  if ((w_.draining() && !w_.handing_over()) || memory::overloaded() || !p->enter()) delete p;
}

void parking_lot::arm() {
  // Asio re-arms its registration of the set on every wait (EPOLL_CTL_MOD),
  // so readiness left over from a full batch is reported again at once.
  set_.async_wait(asio::posix::descriptor_base::wait_read, [this](error_code ec) {
    if (ec) return;  // stopped
    wake_ready();
    arm();
  });
}

void parking_lot::wake_ready() {
  // One bounded batch per turn: the sessions it starts run before the next
  // one, so waking 10,000 connections at once never holds 10,000 sessions.
  std::array<epoll_event, 64> ready;
  const int n = ::epoll_wait(set_.native_handle(), ready.data(), static_cast<int>(ready.size()), 0);
  // One-shot registrations: each connection appears at most once per batch,
  // and nothing a resumed session does in between deletes another record.
  for (int i = 0; i < n; ++i) static_cast<parked_connection*>(ready[i].data.ptr)->wake(ready[i].events);
}

}  // namespace lb::runtime
