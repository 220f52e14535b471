#include "lb/proto/proxy/stage.h"

#include <sys/socket.h>

#include <cerrno>

#include "lb/config/cidr_match.h"
#include "lb/io/socket_stream.h"
#include "lb/listener/stage_guard.h"
#include "lb/runtime/worker.h"

namespace lb::proto::proxy {

bool trusted(const std::vector<config::cidr>& blocks, const boost::asio::ip::address& a) {
  auto addr = a;
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, addr.to_v6());
  for (const auto& c : blocks) {
    if (c.v6 != addr.is_v6()) continue;
    if (c.v6 ? config::cidr_contains(c, addr.to_v6().to_bytes().data())
             : config::cidr_contains(c, addr.to_v4().to_bytes().data()))
      return true;
  }
  return false;
}

boost::asio::awaitable<bool> accept_stage(runtime::worker& w, const runtime::listener_snapshot& ls,
                                          listener::accepted_connection& c) {
  const auto& cfg = *ls.cfg->accept_proxy;
  if (!trusted(cfg.from, c.peer)) co_return true;
  auto* plain = dynamic_cast<io::socket_stream*>(c.stream.get());
  if (!plain) co_return false;  // stages ahead of this one never wrap the stream
  auto& failures = ls.live->stats[w.id()].proxy_failures;
  auto fail = [&](upstream::proxy_failure why) {
    failures[static_cast<std::size_t>(why)].add();
    return false;
  };

  listener::stage_guard guard(w, std::move(c.ticket), *plain, cfg.timeout);
  char buf[max_header_size];
  std::size_t have = 0;  // header bytes taken from the socket so far
  auto h = std::make_shared<header>();
  // Peek at what has arrived: while the header is incomplete every byte of
  // it is the header's, so take it (and wait with the socket drained, which
  // is when a readiness wait is armed right); once it is complete take exactly
  // its bytes, so the plane reads the rest through its own stream.
  for (;;) {
    const auto n = ::recv(plain->native_handle(), buf + have, sizeof buf - have, MSG_PEEK);
    if (n == 0) co_return fail(upstream::proxy_failure::closed);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) co_return fail(upstream::proxy_failure::closed);
    if (n > 0) {
      const auto r = parse(std::string_view(buf, have + static_cast<std::size_t>(n)), *h);
      if (r.status == parse_status::malformed) co_return fail(upstream::proxy_failure::malformed);
      const std::size_t take = r.status == parse_status::complete ? r.length - have : static_cast<std::size_t>(n);
      if (::recv(plain->native_handle(), buf + have, take, 0) != static_cast<ssize_t>(take))
        co_return fail(upstream::proxy_failure::closed);
      have += take;
      if (r.status == parse_status::complete) break;
      // A prefix that fills the buffer can only be an over-long header.
      if (have == sizeof buf) co_return fail(upstream::proxy_failure::malformed);
      continue;  // read on until EAGAIN before waiting
    }
    if (co_await plain->wait(io::socket_stream::wait_type::read))
      co_return fail(guard.timed_out ? upstream::proxy_failure::timeout : upstream::proxy_failure::closed);
  }
  c.ticket = guard.give_back();
  if (!h->local) {
    c.peer = h->source.address();
    c.peer_port = h->source.port();
  }
  c.proxied = std::move(h);
  co_return true;
}

}  // namespace lb::proto::proxy
