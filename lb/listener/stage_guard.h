#pragma once
// A connection inside a stage (PROXY header read, TLS handshake), as the
// worker sees it: its sweep enforces the stage's timeout and its drain ends
// the stage (there is nothing to finish), with no timer of its own. It holds
// the connection's ticket meanwhile and gives it back when the stage is done.

#include "lb/io/stream.h"
#include "lb/runtime/session_base.h"
#include "lb/runtime/worker.h"

namespace lb::listener {

class stage_guard final : public runtime::session_base {
 public:
  // Thread: owning worker `w`. Times out `timeout` from now by cancelling `s`.
  stage_guard(runtime::worker& w, runtime::connection_ticket ticket, io::stream& s, config::duration timeout)
      : session_base(std::move(ticket)), w_(w), s_(s) {
    w_.link(this);
    set_deadline(timeout);
  }
  ~stage_guard() override { w_.unlink(this); }

  void on_timeout() override {
    timed_out = true;
    s_.cancel();
  }
  // Draining to exit ends the stage; handing over to a new process lets it
  // finish (a handshake under way is a connection the client already made).
  void on_drain() override {
    if (!w_.handing_over()) s_.close();
  }
  void on_force_close() override { s_.close(); }

  runtime::connection_ticket give_back() { return std::move(ticket_); }

  bool timed_out = false;

 private:
  runtime::worker& w_;
  io::stream& s_;
};

}  // namespace lb::listener
