#pragma once
// The HTTP/2 plane's body source: a request body streamed upstream as its
// DATA frames arrive. The stream's window is given back (WINDOW_UPDATE) only
// for bytes written upstream, so a slow upstream slows the client.

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "lb/proto/http/forwarder.h"

namespace lb::proto::h2 {

class session;
struct stream;

class upload final : public http::body_source {
 public:
  upload(session& s, stream& st, const std::string& head, bool chunked, config::duration upstream_timeout)
      : s_(s), st_(st), head_(head), chunked_(chunked), upstream_timeout_(upstream_timeout) {}

  boost::asio::awaitable<void> start(const connpool::upstream_ptr& up) override;
  bool running() const override { return running_; }
  bool done() const override { return done_; }
  http::relay_result result() const override { return result_; }
  boost::asio::awaitable<void> finish(bool abort) override;
  // Puts what was sent (head and body, while at most max_upload_replay bytes) back
  // in front of what the client sends next.
  bool rewind() override;

 private:
  boost::asio::awaitable<http::relay_result> pump(const connpool::upstream_ptr& up);

  session& s_;
  stream& st_;
  const std::string& head_;
  const bool chunked_;
  const config::duration upstream_timeout_;
  bool running_ = false;
  bool done_ = false;
  http::relay_result result_ = http::relay_result::ok;
  std::optional<boost::asio::steady_timer> finished_;
  // Body bytes sent upstream, kept for a rewind while they fit in
  // max_upload_replay (the client's first window: most uploads).
  std::string replay_;
  bool replay_ok_ = true;
  std::size_t written_ = 0;  // of replay_, the bytes written upstream without error
  // Bytes at the front of the stream's body_in that a rewind put back: the
  // client's window was given back for them once already.
  std::size_t replayed_ = 0;
};

}  // namespace lb::proto::h2
