#pragma once
// The access log: one JSON object per request, written without ever blocking
// a worker. Each worker formats records into its own buffer (no lock, no
// syscall per request); full buffers, and every buffer at the worker's sweep,
// are handed to the sink's writer thread, which does the file I/O.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lb/config/config.h"

namespace lb::accesslog {

// One finished request, as the session saw it. Views are valid for the call.
struct record {
  std::int64_t start_unix_us = 0;      // when the request head was complete
  std::string_view listener;
  std::string_view route;              // empty: no route matched
  std::string_view pool;               // empty: not proxied
  std::string_view endpoint;           // "host:port" of the last endpoint tried; empty if none
  std::string_view client;             // client IP
  std::string_view method;
  std::string_view path;               // the request target as received
  unsigned status = 0;                 // sent to the client; 0 = none could be sent
  std::uint64_t bytes_in = 0;          // from the client: head + body
  std::uint64_t bytes_out = 0;         // to the client: head + body
  double duration = 0;                 // seconds, head complete -> response done
  double upstream_duration = -1;       // seconds, request sent -> response head; < 0 = no upstream answer
  std::string_view reason;             // why lb answered with an error itself; empty otherwise
  std::uint32_t attempts = 0;          // upstream attempts made (retries = attempts - 1)
  std::string_view sni;                // TCP listeners reading it: the ClientHello's server name
  std::string_view request_id;         // X-Request-Id (listener `request_id:`); empty = none
  std::string_view trace_id;           // W3C trace-id (listener `tracing:`); empty = none
};

class sink;

// Thread: one worker. Cheap to call per request.
class writer {
 public:
  // A null `s` (access log off) makes append() and flush() no-ops.
  explicit writer(std::shared_ptr<sink> s);
  ~writer();
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  // Formats `r` as one JSON line into this worker's buffer; hands the buffer
  // to the sink when it passes 64 KiB.
  void append(const record& r);
  // Hands whatever is buffered to the sink (called from the worker's sweep).
  void flush();

 private:
  std::shared_ptr<sink> sink_;
  std::string buf_;
};

// Thread: control creates it; its own thread writes. Owns the destination.
class sink {
 public:
  // `path: off` is represented by not creating a sink at all.
  // Throws std::system_error when a file cannot be opened. Returns nullptr
  // for kind::off.
  static std::shared_ptr<sink> open(const config::access_log& cfg);
  virtual ~sink() = default;

  // Thread: any. Takes a buffer of complete lines; never blocks on I/O.
  virtual void submit(std::string&& lines) = 0;
  // Thread: any. Reopen the file (SIGUSR1, after logrotate moved it). Lines
  // submitted before the call go to the old file, later ones to the new.
  // Takes a mutex: call it from a signal_set handler, not a raw signal handler.
  virtual void reopen() = 0;
  // Thread: control. Write out everything submitted, then stop the thread.
  virtual void close() = 0;
  // Thread: any. Lines thrown away so far: the queue was full (the output is
  // stuck), the output failed, or they were submitted after close().
  virtual std::uint64_t dropped() const = 0;
};

// Thread: any. Appends `r` as a JSON object and a newline to `out` (the line
// format is spelled out at the top of format.cc). Exposed for tests.
void format(std::string& out, const record& r);

}  // namespace lb::accesslog
