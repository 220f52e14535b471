#include "lb/connpool/h2_stream.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

#include "lb/connpool/h2_connection.h"
#include "lb/core/nghttp2_fields.h"

namespace lb::connpool {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;

namespace {

// lb wrote the head itself, for the route; this only bounds the parser.
constexpr std::uint32_t max_request_head = 256 * 1024;
// A response head (with its trailers) larger than this resets the stream.
constexpr std::size_t max_response_fields = 64 * 1024;


// Fields that belong to the HTTP/1.1 hop lb wrote for, not to an HTTP/2 one
// (RFC 9113 §8.2.2); `host` becomes :authority. `te: trailers` is allowed.
bool connection_specific(const bhttp::fields::value_type& f) {
  switch (f.name()) {
    case bhttp::field::host:
    case bhttp::field::connection:
    case bhttp::field::keep_alive:
    case bhttp::field::proxy_connection:
    case bhttp::field::transfer_encoding:
    case bhttp::field::upgrade: return true;
    case bhttp::field::te: return !beast::iequals(f.value(), "trailers");
    default: return f.name() == bhttp::field::unknown && beast::iequals(f.name_string(), "proxy-connection");
  }
}

ssize_t read_request_body(nghttp2_session* ng, std::int32_t id, std::uint8_t* buf, std::size_t length,
                       std::uint32_t* flags, nghttp2_data_source*, void*) {
  auto* st = static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(ng, id));
  if (!st) return NGHTTP2_ERR_DEFERRED;  // let go of: its RST_STREAM is queued
  return st->pull(buf, length, flags);
}

}  // namespace

h2_stream::h2_stream(std::shared_ptr<h2_connection> c)
    : conn_(std::move(c)), rd_event_(conn_->io()), wr_event_(conn_->io()) {
  req_.header_limit(max_request_head);
  req_.body_limit(std::numeric_limits<std::uint64_t>::max());
}

h2_stream::~h2_stream() { close(); }

void h2_stream::wake() {
  rd_event_.cancel();
  wr_event_.cancel();
}

awaitable<bool> h2_stream::wait(asio::steady_timer& event) {
  const auto cancels = cancels_;
  event.expires_at(asio::steady_timer::time_point::max());
  io::error_code ec;
  co_await event.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return cancels == cancels_;
}

void h2_stream::cancel() {
  ++cancels_;
  wake();
}

void h2_stream::detach() {
  if (detached_) return;
  detached_ = true;
  conn_->stream_gone(this);
  wake();
}

void h2_stream::close() {
  if (detached_) return;
  if (id_ > 0 && !codec_closed_ && !conn_->closed()) {
    // Still open in the codec: the response (or the request) did not end.
    auto* ng = conn_->codec();
    nghttp2_session_set_stream_user_data(ng, id_, nullptr);
    nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    conn_->want_write();
  }
  detach();
}

void h2_stream::wait_readable(std::function<void(io::error_code)> h) {
  h(asio::error::operation_not_supported);
}

// --- request ---

awaitable<io::error_code> h2_stream::write(io::buffer_seq bufs) {
  for (std::size_t i = 0; i < bufs.size(); ++i) {
    const auto& b = bufs.data()[i];
    if (!feed(static_cast<const char*>(b.data()), b.size())) co_return asio::error::connection_reset;
  }
  // Back-pressure: the upload goes on once the codec took the bytes (the
  // endpoint's window allowing).
  while (out_.size() - out_off_ > 0) {
    if (ended_) break;  // answered whole (an early 413, say): the rest of the body is not needed
    if (reset_ || codec_closed_ || detached_) co_return asio::error::connection_reset;
    if (!co_await wait(wr_event_)) co_return asio::error::operation_aborted;
  }
  co_return io::error_code{};
}

bool h2_stream::feed(const char* data, std::size_t n) {
  if (ended_) return true;  // answered whole: what is left of the request is dropped
  if (reset_ || codec_closed_ || detached_) return false;
  in_.append(data, n);
  std::size_t off = 0;
  const std::size_t before = out_.size();
  while (off < in_.size() && !req_.is_done()) {
    io::error_code ec;
    if (!req_.is_header_done()) {
      off += req_.put(asio::buffer(in_.data() + off, in_.size() - off), ec);
      if (ec == bhttp::error::need_more) break;
      if (ec) return false;
      if (req_.is_header_done() && !submit_head()) return false;
      continue;
    }
    // The body, decoded from its HTTP/1.1 framing straight into out_.
    const std::size_t room = std::max<std::size_t>(in_.size() - off, 1);
    const std::size_t at = out_.size();
    out_.resize(at + room);
    auto& body = req_.get().body();
    body.data = out_.data() + at;
    body.size = room;
    off += req_.put(asio::buffer(in_.data() + off, in_.size() - off), ec);
    out_.resize(at + (room - body.size));
    if (ec == bhttp::error::need_buffer) continue;
    if (ec == bhttp::error::need_more) break;
    if (ec) return false;
  }
  in_.erase(0, off);
  if (req_.is_header_done() && req_.is_done() && !body_done_) body_done_ = true;
  if (id_ > 0 && (out_.size() != before || body_done_)) {
    nghttp2_session_resume_data(conn_->codec(), id_);
    conn_->want_write();
  }
  return true;
}

bool h2_stream::submit_head() {
  if (!conn_->reusable()) {
    // The connection closed or got a GOAWAY since this stream was taken:
    // nothing was sent, so the request may go elsewhere.
    on_close(NGHTTP2_REFUSED_STREAM);
    return false;
  }
  const auto& h = req_.get();
  head_method_ = h.method() == bhttp::verb::head;
  // Lower-case names, copied once (nghttp2 copies them again on submit).
  std::size_t name_bytes = 0;
  for (const auto& f : h) name_bytes += f.name_string().size(), ++head_fields_;
  std::string names;
  names.reserve(name_bytes);
  std::vector<nghttp2_nv> nva;
  nva.reserve(head_fields_ + 5);
  nva.push_back(nv(":method", h.method_string()));
  nva.push_back(nv(":scheme", conn_->tls() ? "https" : "http"));
  if (const auto host = h[bhttp::field::host]; !host.empty()) nva.push_back(nv(":authority", host));
  nva.push_back(nv(":path", h.target()));
  bool te = false;
  bool grpc = false;
  for (const auto& f : h) {
    if (connection_specific(f)) continue;
    const auto name = f.name_string();
    nva.push_back(nv(append_lower(names, name), f.value()));
    te = te || f.name() == bhttp::field::te;
    grpc = grpc || (f.name() == bhttp::field::content_type && f.value().starts_with("application/grpc"));
  }
  // gRPC servers require it (the gRPC over HTTP/2 spec); lb's HTTP/1.1 head
  // never carries TE, a hop-by-hop field.
  if (grpc && !te) nva.push_back(nv("te", "trailers"));
  nghttp2_data_provider dp;
  dp.source.ptr = nullptr;
  dp.read_callback = &read_request_body;
  const bool body = !req_.is_done();
  const auto id = nghttp2_submit_request(conn_->codec(), nullptr, nva.data(), nva.size(), body ? &dp : nullptr, this);
  if (id < 0) return false;
  id_ = id;
  body_done_ = !body;
  conn_->want_write();
  return true;
}

ssize_t h2_stream::pull(std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
  const auto n = std::min(length, out_.size() - out_off_);
  if (n) std::memcpy(buf, out_.data() + out_off_, n);
  out_off_ += n;
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
    wr_event_.cancel();  // the writer may go on
    if (body_done_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      std::size_t fields = 0;
      for (const auto& f : req_.get()) (void)f, ++fields;
      if (fields > head_fields_) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        submit_trailers();
      }
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

void h2_stream::submit_trailers() {
  std::vector<nghttp2_nv> nva;
  std::string names;
  std::size_t i = 0, name_bytes = 0;
  for (const auto& f : req_.get()) name_bytes += f.name_string().size();
  names.reserve(name_bytes);
  for (const auto& f : req_.get()) {
    if (i++ < head_fields_) continue;
    const auto name = f.name_string();
    nva.push_back(nv(append_lower(names, name), f.value()));
  }
  nghttp2_submit_trailer(conn_->codec(), id_, nva.data(), nva.size());
}

// --- response ---

void h2_stream::on_field(std::string_view name, std::string_view value) {
  if (name == ":status") {
    std::from_chars(value.data(), value.data() + value.size(), status_);
    return;
  }
  if (name.empty() || name.front() == ':') return;
  if (reset_) return;
  if (fields_.size() + name.size() + value.size() > max_response_fields) {
    // A broken endpoint: the forwarder sees a reset (502), the connection goes on.
    reset_ = true;
    nghttp2_submit_rst_stream(conn_->codec(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
    conn_->want_write();
    rd_event_.cancel();
    return;
  }
  if (!final_ && name == "content-length") has_length_ = true;
  fields_.append(name).append(": ").append(value).append("\r\n");
}

void h2_stream::on_head_end(bool end_stream) {
  if (reset_) return;
  if (final_) {
    if (end_stream) on_end_stream();  // trailers: fields_ holds them
    return;
  }
  char code[4] = "000";
  std::to_chars(code, code + 3, status_);
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status_));
  rx_.append("HTTP/1.1 ").append(code, 3).append(" ").append(reason.data(), reason.size()).append("\r\n");
  rx_.append(fields_);
  fields_.clear();
  if (status_ < 200) {  // interim: the forwarder reads past it
    rx_.append("\r\n");
    has_length_ = false;
    rd_event_.cancel();
    return;
  }
  final_ = true;
  const bool no_body = head_method_ || status_ == 204 || status_ == 304;
  if (!no_body && !has_length_) {
    if (end_stream) {
      rx_.append("content-length: 0\r\n");
    } else {
      // No length: chunked, which also carries the trailers.
      chunked_ = true;
      rx_.append("transfer-encoding: chunked\r\n");
    }
  }
  rx_.append("\r\n");
  if (end_stream) on_end_stream();
  rd_event_.cancel();
}

void h2_stream::on_data(const std::uint8_t* data, std::size_t len) {
  if (len == 0 || reset_) return;
  if (chunked_) {
    char size[16];
    const auto* end = std::to_chars(size, size + sizeof size, len, 16).ptr;
    rx_.append(size, static_cast<std::size_t>(end - size)).append("\r\n");
  }
  rx_.append(reinterpret_cast<const char*>(data), len);
  if (chunked_) rx_.append("\r\n");
  unconsumed_ += len;
  rd_event_.cancel();
}

void h2_stream::on_end_stream() {
  if (ended_) return;
  ended_ = true;
  if (chunked_) rx_.append("0\r\n").append(fields_).append("\r\n");
  fields_.clear();
  rd_event_.cancel();
}

void h2_stream::on_close(std::uint32_t error_code) {
  if (codec_closed_) return;  // told once
  codec_closed_ = true;
  // A stream that ended and was then reset (the endpoint answered early and
  // cancels the rest of the upload) keeps its response.
  if (!ended_) reset_ = true;
  // RFC 9113 §8.7: REFUSED_STREAM (or a GOAWAY below its id, which nghttp2
  // reports so) means the endpoint did nothing with it.
  refused_ = !ended_ && !final_ && error_code == NGHTTP2_REFUSED_STREAM;
  wake();
}

awaitable<io::error_code> h2_stream::read(beast::flat_buffer& buf, std::size_t want, bool) {
  for (;;) {
    if (const auto avail = rx_.size() - rx_off_) {
      const auto n = std::min(want, avail);
      auto to = buf.prepare(n);
      std::memcpy(to.data(), rx_.data() + rx_off_, n);
      buf.commit(n);
      rx_off_ += n;
      if (rx_off_ == rx_.size()) {
        rx_.clear();
        rx_off_ = 0;
        // All read: the endpoint may send the next window's worth.
        if (unconsumed_ && !codec_closed_ && !conn_->closed()) {
          nghttp2_session_consume(conn_->codec(), id_, unconsumed_);
          conn_->want_write();
        }
        unconsumed_ = 0;
      }
      co_return io::error_code{};
    }
    if (ended_) co_return asio::error::eof;
    if (reset_ || detached_ || (codec_closed_ && !ended_)) co_return asio::error::connection_reset;
    if (!co_await wait(rd_event_)) co_return asio::error::operation_aborted;
  }
}

awaitable<io::error_code> h2_stream::read_some(asio::mutable_buffer b, std::size_t& n) {
  beast::flat_buffer tmp;
  n = 0;
  const auto ec = co_await read(tmp, b.size(), true);
  if (!ec) n = asio::buffer_copy(b, tmp.data());
  co_return ec;
}

}  // namespace lb::connpool
