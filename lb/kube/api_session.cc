#include "lb/kube/api_session.h"

namespace lb::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
constexpr std::size_t body_limit = 4 << 20;  // a Lease, an Ingress, an Event or a Status
}

api_session::api_session(asio::io_context& io, asio::ssl::context& tls, const credentials& c, token_source& token)
    : io_(io), tls_(tls), creds_(c), token_(token) {}

void api_session::close() {
  ++close_epoch_;
  if (conn_) conn_->close();
}

asio::awaitable<api_session::error_code> api_session::call(http::verb method, const std::string& target,
                                                           const std::string& content_type, const std::string& body,
                                                           std::chrono::milliseconds timeout, response& res,
                                                           std::string& why) {
  const unsigned epoch = close_epoch_;
  bool token_retried = false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (!conn_) {
      conn_ = std::make_unique<api_connection>(io_, tls_, creds_);
      reused_ = false;
      const auto ec = co_await conn_->connect(timeout, why);
      if (ec || epoch != close_epoch_) {
        conn_.reset();
        co_return ec ? ec : asio::error::operation_aborted;
      }
    }
    const bool was_reused = reused_;
    res = {};
    const auto ec = co_await conn_->request(method, target, token_.current(), content_type, body, body_limit, timeout, res);
    if (ec || !res.keep_alive()) {
      conn_->close();
      conn_.reset();
    } else {
      reused_ = true;
    }
    if (epoch != close_epoch_) co_return asio::error::operation_aborted;
    if (ec) {
      if (was_reused) continue;
      why = std::string(http::to_string(method)) + " " + target + ": " + ec.message();
      co_return ec;
    }
    if (res.result_int() == 401 && !token_retried && token_.refresh()) {
      token_retried = true;
      continue;
    }
    co_return error_code{};
  }
  why = std::string(http::to_string(method)) + " " + target + ": failed on a fresh connection too";
  co_return asio::error::connection_aborted;
}

}  // namespace lb::kube
