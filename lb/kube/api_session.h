#pragma once
// A sequence of requests to the API server over one kept-alive connection
// (opened on first use, reopened after a failure): what the writes need,
// where the watcher opens a connection per stream. One request at a time.

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include "lb/kube/api_connection.h"
#include "lb/kube/credentials.h"
#include "lb/kube/token_source.h"

namespace lb::kube {

class api_session {
 public:
  using error_code = boost::system::error_code;
  using response = boost::beast::http::response<boost::beast::http::string_body>;

  // Thread: the io_context's. Every reference outlives the session.
  api_session(boost::asio::io_context& io, boost::asio::ssl::context& tls, const credentials& c, token_source& token);

  // Thread: the io_context's; never two at once. `method` `target` with
  // `body` (`content_type`; none when empty) within `timeout` per attempt.
  // Tried a second time on a fresh connection when a reused one failed (the
  // server may have closed it while idle: a write may then reach the server
  // twice, so the requests sent here are ones a repeat does no harm to), and
  // after a 401 when the token file held a new token. An error code (with
  // `why`) for a transport failure; otherwise `res` holds the answer,
  // whatever its status.
  boost::asio::awaitable<error_code> call(boost::beast::http::verb method, const std::string& target,
                                          const std::string& content_type, const std::string& body,
                                          std::chrono::milliseconds timeout, response& res, std::string& why);

  // Thread: the io_context's. Ends a call in progress (it fails, and is not
  // tried again) and closes the connection; the next call opens a new one.
  void close();

 private:
  boost::asio::io_context& io_;
  boost::asio::ssl::context& tls_;
  const credentials& creds_;
  token_source& token_;
  std::unique_ptr<api_connection> conn_;
  bool reused_ = false;         // conn_ already answered a request
  unsigned close_epoch_ = 0;    // bumped by close(): a call in progress does not retry
};

// Thread: any. Whether an answer is worth retrying later: 408, 429, 5xx.
inline bool transient_status(unsigned status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace lb::kube
