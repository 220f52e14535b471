#pragma once
// Idle client connections, held for almost nothing. A keep-alive connection
// waiting for its next request leaves its session (~500 B) and Asio (whose
// per-socket reactor state and pending wait cost ~360 B) behind: its socket
// goes into the worker's own epoll set, which Asio watches as one descriptor,
// and what it needs to resume fits a 128-byte record. When bytes
// arrive, the record becomes a session again. The same idea as nginx freeing
// a keep-alive connection's request and buffers, taken one step further.

#include <chrono>
#include <cstdint>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "lb/io/stream.h"
#include "lb/runtime/connection_ticket.h"

namespace lb::runtime {

class worker;

// What a client connection carries across parking besides its ticket and
// socket; a session keeps it as one piece, and so does a parked record.
struct resume_state {
  boost::asio::ip::address peer;
  std::uint32_t exchanges = 0;  // requests started so far
  bool in_lot = false;          // registered in the lot's epoll set (one-shot, disarmed while served)
  bool nodelay = false;         // TCP_NODELAY is set
};

// Makes a parked connection a session again, on the worker's thread, once its
// socket (`stream.fd`) is readable (a request, EOF or an error). `deadline` is the one
// it was parked with: a connection yet to send its first request keeps it.
using resume_fn = void (*)(worker&, connection_ticket&&, io::released stream, const resume_state&,
                           std::chrono::steady_clock::time_point deadline);

class parking_lot {
 public:
  using clock = std::chrono::steady_clock;

  // Thread: control. Throws boost::system::system_error if no epoll set can be made.
  explicit parking_lot(worker& w);
  ~parking_lot();
  parking_lot(const parking_lot&) = delete;
  parking_lot& operator=(const parking_lot&) = delete;

  // Thread: owning worker. Starts watching the set.
  void start();
  // Thread: owning worker. Stops watching (the worker's loop may then end).
  void stop();

  // Thread: owning worker. Takes the connection (its released `stream`, out
  // of Asio) over until the socket is readable (`resume` then runs), `deadline`
  // passes, or the worker drains: both close it. A connection that cannot be
  // parked is closed.
  void park(connection_ticket ticket, io::released stream, const resume_state& st, clock::time_point deadline,
            resume_fn resume);

 private:
  friend class parked_connection;
  void arm();
  void wake_ready();

  worker& w_;
  boost::asio::posix::stream_descriptor set_;  // the epoll set, one descriptor to Asio
};

}  // namespace lb::runtime
