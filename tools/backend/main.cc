// lb-backend: the upstream test/demo server behind lb. See README.md.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "session.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using lb::backend::server_state;
using lb::backend::session;

struct options {
  std::string name = "backend";
  std::string listen = "127.0.0.1:0";
  unsigned threads = 1;
  std::optional<std::uint64_t> drop_request_after;
  std::optional<std::uint64_t> max_requests_per_conn;
};

constexpr std::string_view usage =
    "usage: lb-backend --name NAME --listen HOST:PORT [--threads N]\n"
    "                  [--drop-request-after N] [--max-requests-per-conn N]\n";

std::optional<std::uint64_t> parse_count(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// Returns an error message, or nullopt when `opts` is filled in.
std::optional<std::string> parse_args(int argc, char** argv, options& opts) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    // Accept both "--opt value" and "--opt=value".
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "-h" || arg == "--help") return std::string{};
    if (arg != "--name" && arg != "--listen" && arg != "--threads" && arg != "--drop-request-after" &&
        arg != "--max-requests-per-conn")
      return "unknown option " + std::string(arg);
    auto take = [&]() -> std::optional<std::string_view> {
      if (has_value) return value;
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    auto v = take();
    if (!v) return std::string(arg) + " needs a value";
    if (arg == "--name") {
      if (v->empty()) return "--name must not be empty";
      for (unsigned char c : *v)
        if (c < 0x20 || c == 0x7f) return "--name must not contain control characters";
      opts.name = *v;
    } else if (arg == "--listen") {
      opts.listen = *v;
    } else if (arg == "--threads") {
      auto n = parse_count(*v);
      if (!n || *n < 1 || *n > 1024) return "--threads must be 1..1024";
      opts.threads = static_cast<unsigned>(*n);
    } else if (arg == "--drop-request-after") {
      auto n = parse_count(*v);
      if (!n) return "--drop-request-after must be a number";
      opts.drop_request_after = *n;
    } else if (arg == "--max-requests-per-conn") {
      auto n = parse_count(*v);
      if (!n || *n < 1) return "--max-requests-per-conn must be >= 1";
      opts.max_requests_per_conn = *n;
    }
  }
  return std::nullopt;
}

// "HOST:PORT" or "[V6]:PORT"; HOST may be a name (resolved once, at startup,
// before any connection exists, so blocking is harmless).
tcp::endpoint resolve_listen(asio::io_context& ioc, const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("--listen must be HOST:PORT");
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, port, tcp::resolver::numeric_service);
  if (results.empty()) throw std::runtime_error("cannot resolve " + listen);
  return results.begin()->endpoint();
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, server_state& state, asio::io_context& ioc,
                                  bool multi_threaded) {
  for (;;) {
    // With several threads each connection gets its own strand, so its
    // coroutine and the timers that poke its socket never run concurrently.
    // With one thread the strand would be pure overhead.
    asio::any_io_executor ex = multi_threaded ? asio::any_io_executor(asio::make_strand(ioc))
                                              : asio::any_io_executor(ioc.get_executor());
    error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(ex, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // EMFILE and friends: back off instead of spinning, keep serving.
      asio::steady_timer timer(acceptor.get_executor());
      timer.expires_after(std::chrono::milliseconds(50));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    // Responses are often a head write followed by body writes; Nagle would
    // hold the second one back for a delayed ACK.
    socket.set_option(tcp::no_delay(true), ec);
    auto s = std::make_shared<session>(std::move(socket), state);
    asio::co_spawn(ex, session::run(std::move(s)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  options opts;
  if (auto err = parse_args(argc, argv, opts)) {
    if (err->empty()) {
      std::cout << usage;
      return 0;
    }
    std::cerr << "lb-backend: " << *err << "\n" << usage;
    return 2;
  }
  // Asio already sends with MSG_NOSIGNAL; this covers any other write path.
  std::signal(SIGPIPE, SIG_IGN);

  server_state state;
  state.name = opts.name;
  state.backend_header = "X-Backend: " + opts.name + "\r\n";
  state.drop_request_after = opts.drop_request_after;
  state.max_requests_per_conn = opts.max_requests_per_conn;

  asio::io_context ioc(static_cast<int>(opts.threads));
  // Installed before the "listening" line goes out: a test may signal us as
  // soon as it has read that line, and must then see a clean exit 0.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&ioc](const error_code& ec, int) {
    if (!ec) ioc.stop();
  });
  tcp::acceptor acceptor(ioc);
  try {
    auto endpoint = resolve_listen(ioc, opts.listen);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    auto local = acceptor.local_endpoint();
    std::string address = local.address().to_string();
    if (local.address().is_v6()) address = "[" + address + "]";
    // Tests parse this exact line to learn the port when --listen used :0.
    std::printf("listening %s:%u\n", address.c_str(), static_cast<unsigned>(local.port()));
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::cerr << "lb-backend: cannot listen on " << opts.listen << ": " << e.what() << "\n";
    return 1;
  }

  asio::co_spawn(ioc, accept_loop(acceptor, state, ioc, opts.threads > 1), asio::detached);

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < opts.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();

  // Skip destroying the io_context: it would tear down every suspended
  // connection coroutine for nothing, since exiting closes the sockets anyway.
  std::fflush(nullptr);
  std::_Exit(0);
}
