#include "lb/kube/api_connection.h"

#include <limits>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace lb::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::redirect_error;
using asio::use_awaitable;

std::optional<asio::ssl::context> make_tls_context(const credentials& c, std::string& why) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (c.ca_pem.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.add_certificate_authority(asio::buffer(c.ca_pem), ec);
  }
  if (ec) {
    why = "API server CA: " + ec.message();
    return std::nullopt;
  }
  ctx.set_verify_mode(asio::ssl::verify_peer, ec);
  if (!c.client_cert_pem.empty()) {
    ctx.use_certificate_chain(asio::buffer(c.client_cert_pem), ec);
    if (!ec) ctx.use_private_key(asio::buffer(c.client_key_pem), asio::ssl::context::pem, ec);
    if (ec) {
      why = "client certificate or key: " + ec.message();
      return std::nullopt;
    }
  }
  return ctx;
}

api_connection::api_connection(asio::io_context& io, asio::ssl::context& ctx, const credentials& c)
    : creds_(c), stream_(io, ctx) {}

asio::awaitable<api_connection::error_code> api_connection::connect(std::chrono::milliseconds timeout, std::string& why) {
  error_code ec;
  asio::ip::tcp::resolver resolver(stream_.get_executor());
  auto& tcp = beast::get_lowest_layer(stream_);
  tcp.expires_after(timeout);
  const auto hosts =
      co_await resolver.async_resolve(creds_.host, std::to_string(creds_.port), redirect_error(use_awaitable, ec));
  if (ec) {
    why = "cannot resolve " + creds_.host + ": " + ec.message();
    co_return ec;
  }
  if (closed_) co_return asio::error::operation_aborted;
  co_await tcp.async_connect(hosts, redirect_error(use_awaitable, ec));
  if (ec) {
    why = "cannot connect to " + creds_.host + ":" + std::to_string(creds_.port) + ": " + ec.message();
    co_return ec;
  }
  // The name (or IP) the certificate must carry: what the credentials call
  // the server, never what it resolved to.
  SSL* ssl = stream_.native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  error_code addr_ec;
  asio::ip::make_address(creds_.host, addr_ec);
  if (!addr_ec) {
    X509_VERIFY_PARAM_set1_ip_asc(param, creds_.host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, creds_.host.c_str(), 0);
    SSL_set_tlsext_host_name(ssl, creds_.host.c_str());
  }
  co_await stream_.async_handshake(asio::ssl::stream_base::client, redirect_error(use_awaitable, ec));
  if (ec) {
    const long verify = SSL_get_verify_result(ssl);
    why = "TLS handshake with " + creds_.host + ":" + std::to_string(creds_.port) + " failed: " + ec.message();
    if (verify != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    co_return ec;
  }
  co_return error_code{};
}

void api_connection::prepare(http::request<http::empty_body>& req, const std::string& target,
                             const std::string& token) const {
  req.method(http::verb::get);
  req.target(target);
  req.version(11);
  const bool v6 = creds_.host.find(':') != std::string::npos;
  req.set(http::field::host, (v6 ? "[" + creds_.host + "]" : creds_.host) + ":" + std::to_string(creds_.port));
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "lb-kube-watch");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
}

asio::awaitable<api_connection::error_code> api_connection::get(const std::string& target, const std::string& token,
                                                                std::size_t body_limit, std::chrono::seconds timeout,
                                                                http::response<http::string_body>& res) {
  error_code ec;
  http::request<http::empty_body> req;
  prepare(req, target, token);
  beast::get_lowest_layer(stream_).expires_after(timeout);
  co_await http::async_write(stream_, req, redirect_error(use_awaitable, ec));
  if (ec) co_return ec;
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  co_await http::async_read(stream_, buffer_, parser, redirect_error(use_awaitable, ec));
  if (!ec) res = parser.release();
  co_return ec;
}

asio::awaitable<api_connection::error_code> api_connection::request(http::verb method, const std::string& target,
                                                                    const std::string& token,
                                                                    const std::string& content_type, std::string body,
                                                                    std::size_t body_limit,
                                                                    std::chrono::milliseconds timeout,
                                                                    http::response<http::string_body>& res) {
  error_code ec;
  http::request<http::empty_body> head;
  prepare(head, target, token);
  http::request<http::string_body> req(std::move(head.base()));
  req.method(method);
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.body() = std::move(body);
  req.prepare_payload();
  beast::get_lowest_layer(stream_).expires_after(timeout);
  co_await http::async_write(stream_, req, redirect_error(use_awaitable, ec));
  if (ec) co_return ec;
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  co_await http::async_read(stream_, buffer_, parser, redirect_error(use_awaitable, ec));
  if (!ec) res = parser.release();
  co_return ec;
}

asio::awaitable<api_connection::error_code> api_connection::start_stream(const std::string& target,
                                                                         const std::string& token,
                                                                         std::chrono::seconds timeout,
                                                                         unsigned& status) {
  error_code ec;
  http::request<http::empty_body> req;
  prepare(req, target, token);
  beast::get_lowest_layer(stream_).expires_after(timeout);
  co_await http::async_write(stream_, req, redirect_error(use_awaitable, ec));
  if (ec) co_return ec;
  stream_parser_.emplace();
  // A watch body has no end but the server's timeout: only lines are bounded.
  // Not boost::none: Beast 1.74 compares a Content-Length against the empty
  // optional and refuses every non-chunked body (a 401's Status, say).
  stream_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  co_await http::async_read_header(stream_, buffer_, *stream_parser_, redirect_error(use_awaitable, ec));
  if (!ec) status = stream_parser_->get().result_int();
  co_return ec;
}

asio::awaitable<api_connection::error_code> api_connection::read_some(std::chrono::seconds idle,
                                                                      std::string_view& data, bool& done) {
  data = {};
  done = stream_parser_->is_done();
  if (done) co_return error_code{};
  auto& body = stream_parser_->get().body();
  body.data = body_buf_;
  body.size = sizeof body_buf_;
  error_code ec;
  beast::get_lowest_layer(stream_).expires_after(idle);
  co_await http::async_read_some(stream_, buffer_, *stream_parser_, redirect_error(use_awaitable, ec));
  // need_buffer only says body_buf_ is full: the bytes are there.
  if (ec == http::error::need_buffer) ec = {};
  if (ec) co_return ec;
  data = std::string_view(body_buf_, sizeof body_buf_ - body.size);
  done = stream_parser_->is_done();
  co_return error_code{};
}

void api_connection::close() {
  closed_ = true;
  auto& tcp = beast::get_lowest_layer(stream_);
  tcp.cancel();
  // No TLS close_notify: the server learns from the FIN, and waiting for its
  // reply would only slow stop().
  tcp.close();
}

}  // namespace lb::kube
