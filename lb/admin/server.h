#pragma once
// The admin HTTP server (/healthz, /readyz, /metrics, /config, /pools,
// /reload). Runs on the control thread's io_context; never on a worker.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

namespace lb::admin {

struct reply {
  boost::beast::http::status status = boost::beast::http::status::ok;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};

using handler = std::function<reply()>;

class server {
 public:
  explicit server(boost::asio::io_context& io);
  ~server();

  // Thread: control, before listen(). `method` + exact `path` -> handler.
  void route(boost::beast::http::verb method, std::string path, handler h);

  // Thread: control. Binds and starts accepting; returns the bound endpoint.
  // Throws boost::system::system_error when the address cannot be bound.
  boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& ep);

  // Thread: control. Starts accepting on `fd`, a listening socket a running
  // lb handed over (binary upgrade); returns its endpoint. Throws
  // boost::system::system_error.
  boost::asio::ip::tcp::endpoint adopt(int fd);

  // Thread: control. The listening descriptor (-1 when not listening), to
  // hand over to a new process.
  int native_handle();

  // Thread: control. Stops accepting (the new process of an upgrade does);
  // requests in progress finish.
  void stop_accepting();

  // Thread: control. The bearer token every request but GET and HEAD must
  // carry (`Authorization: Bearer TOKEN`); empty = none required. Also on
  // reload (a new token file content applies to the next request).
  void set_token(std::string token);

  // Thread: control. Stops accepting and closes open admin connections.
  void stop();

  struct state;  // shared with the connection coroutines, which may outlive a call

 private:
  std::shared_ptr<state> state_;
};

}  // namespace lb::admin
