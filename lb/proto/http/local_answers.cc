// The answers an HTTP/1 connection gives itself: errors and limits (static
// text from local_response), 429 with Retry-After, redirect_https, and the
// 503 after an exchange ran out of memory.
#include <new>

#include "lb/proto/http/http1_connection.h"
#include "lb/proto/http/redirect.h"
#include "lb/proto/http/request_policy.h"
#include "lb/proto/http/rewrite.h"
#include "lb/proto/http/trace_context.h"
#include "lb/runtime/memory.h"

namespace lb::proto::http {

namespace asio = boost::asio;
using asio::awaitable;

awaitable<void> connection::answer_out_of_memory() {
  runtime::memory::note_failure(runtime::memory::plane::http1);
  if (answering_ || !client_->is_open()) co_return;
  try {
    const auto wire = local_response(local_status::service_unavailable, false);
    if (!co_await client_->write(asio::buffer(wire))) linger_ = true;  // unread input must not reset the 503
  } catch (const std::bad_alloc&) {
  }
}

awaitable<void> connection::write_local(local_status s, bool keep_alive) {
  arm(listener().limits.idle_timeout);
  if (keep_alive) keep_alive_nodelay();
  const auto wire = with_request_id(local_response(s, keep_alive));
  if (!co_await client_->write(asio::buffer(wire))) ex_.bytes_out += wire.size();
}

std::string_view connection::with_request_id(std::string_view wire) {
  if (ex_.ids.request_id.empty()) return wire;
  const auto head_end = wire.find("\r\n\r\n") + 2;
  head_out_.assign(wire.substr(0, head_end));
  detail::append_field(head_out_, "X-Request-Id", ex_.ids.request_id);
  head_out_.append(wire.substr(head_end));
  return head_out_;
}

awaitable<bool> connection::reply(local_status s, std::string_view reason, bool request_done) {
  ex_.status = static_cast<unsigned>(s);
  ex_.reason = reason;
  ensure_request_id(ex_.ids, listener(), worker_.rng());
  const bool keep = request_done && !draining_ && !closes_connection(s) && ex_.keep_alive;
  linger_ = !request_done;
  co_await write_local(s, keep);
  co_return keep;
}

awaitable<bool> connection::reply_too_many(std::uint32_t retry_after, bool request_done, std::string_view reason) {
  ex_.status = 429;
  ex_.reason = reason;
  ensure_request_id(ex_.ids, listener(), worker_.rng());
  const bool keep = request_done && !draining_ && ex_.keep_alive;
  linger_ = !request_done;
  arm(listener().limits.idle_timeout);
  if (keep) keep_alive_nodelay();
  char buf[256];
  const auto wire = with_request_id(std::string_view(buf, too_many_requests(buf, retry_after, keep)));
  if (!co_await client_->write(asio::buffer(wire))) ex_.bytes_out += wire.size();
  co_return keep;
}

awaitable<bool> connection::redirect(const config::redirect_https& rd, std::string_view host,
                                     std::string_view target, bool get_or_head, bool http11, bool request_done) {
  up_head_.clear();
  if (!https_location(up_head_, host, target, rd.port))
    co_return co_await reply(local_status::bad_request, "bad_host", request_done);
  const auto status = redirect_status(rd, get_or_head);
  ex_.status = status;
  ex_.reason = "redirect_https";
  const bool keep = request_done && http11 && !draining_ && ex_.keep_alive;
  linger_ = !request_done;
  head_out_.clear();
  write_redirect(head_out_, status, up_head_, keep);
  arm(listener().limits.idle_timeout);
  if (keep) keep_alive_nodelay();
  if (!co_await client_->write(asio::buffer(head_out_))) ex_.bytes_out += head_out_.size();
  co_return keep;
}
}  // namespace lb::proto::http
