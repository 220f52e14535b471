#pragma once
// The HTTP/1 plane's body source: a request body streamed from the client to
// the upstream in a coroutine of its own, while the exchange reads (and
// relays) the response.

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "lb/proto/http/forwarder.h"
#include "lb/proto/http/relay.h"

namespace lb::proto::http {

class upload final : public body_source {
 public:
  // What the upload reads from and how it is timed. Everything referenced
  // lives in the connection, which `keep_alive` holds until the upload ends.
  struct params {
    io::stream& client;
    boost::beast::flat_buffer& client_buf;
    request_parser& req;
    framing f;
    const std::string& head;
    config::duration client_timeout;    // the client's body (idle_timeout)
    config::duration upstream_timeout;  // writes to the upstream (the route's write_timeout())
    runtime::session_base& owner;
    runtime::worker& worker;
    exchange& ex;
    bool send_continue;  // answer "Expect: 100-continue" first
    bool& nodelay;       // TCP_NODELAY is set on the client stream
    std::shared_ptr<void> keep_alive;
  };

  explicit upload(params p) : p_(std::move(p)) {}

  boost::asio::awaitable<void> start(const connpool::upstream_ptr& up) override;
  bool running() const override { return running_; }
  bool done() const override { return done_; }
  relay_result result() const override { return result_; }
  boost::asio::awaitable<void> finish(bool abort) override;
  // Sends what the last attempt wrote (up to max_upload_replay bytes of
  // body) ahead of the rest, which then comes from the client as before.
  bool rewind() override;

 private:
  params p_;
  relay_tap tap_;
  // The next attempt's head and what the refused one wrote of the body.
  std::string resend_;
  bool rewound_ = false;
  bool running_ = false;
  bool done_ = false;
  relay_result result_ = relay_result::ok;
  // Cancelled when done: an event to wait on. Made only when an upload
  // starts, so an exchange without a streamed body builds no timer.
  std::optional<boost::asio::steady_timer> finished_;
};

}  // namespace lb::proto::http
