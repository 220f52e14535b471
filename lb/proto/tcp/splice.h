#pragma once
// Zero-copy forwarding for bulk TCP flows: splice() from one socket into a
// pipe and from the pipe into the other socket, so the bytes never enter user
// space (nginx has no such path; HAProxy's `option splice-auto` does this).
// Pipes come from a per-worker pool: opening two descriptors per flow would
// cost more than a small flow gains.

#include <cstdint>

#include <boost/asio/awaitable.hpp>

#include "lb/io/socket_stream.h"

namespace lb::proto::tcp {

// One pipe of the worker's pool: its two descriptors and the bytes in it.
struct pipe_pair {
  int read_fd = -1;
  int write_fd = -1;
  std::size_t held = 0;  // spliced in and not yet out
};

// Thread: worker. A pipe from this thread's pool (a thread_local: every worker
// runs on a thread of its own, so no lock), or one with read_fd -1 when the
// process is out of descriptors (the caller stays on the buffered path).
pipe_pair take_pipe();
// Thread: worker. Back to the pool when empty; a pipe still holding bytes
// (the flow ended mid-way) is closed instead.
void give_pipe(pipe_pair p);

// How one direction of a flow ended.
enum class copy_end {
  eof,        // `from` sent FIN: everything before it was passed on
  from_error,  // reading `from` failed (an RST from its peer)
  to_error,    // writing `to` failed (its peer reset or went away)
  aborted,     // cancelled or closed by the flow's owner (timeout, drain)
};

// What a copy loop reports per chunk moved (idle timer, byte counters).
struct copy_hooks {
  void (*moved)(void* ctx, std::size_t n) = nullptr;
  void* ctx = nullptr;
};

// Thread: worker. Moves bytes `from` -> `to` through `p` until `from` ends
// or either side fails. Waits for readiness only after EAGAIN (both streams
// are edge-triggered under Asio's reactor), and checks after each wait that
// the owner has not closed a stream, so no syscall ever reaches a reused
// descriptor number.
boost::asio::awaitable<copy_end> splice_copy(io::socket_stream& from, io::socket_stream& to, pipe_pair& p,
                                             copy_hooks hooks);

}  // namespace lb::proto::tcp
