#pragma once
// A socket read that tells Asio's reactor when the socket is drained, so the
// next read waits for epoll without first trying a recv() that can only fail
// with EAGAIN.
//
// Why: Boost 1.74's read operation (reactive_socket_recv_op) counts a socket
// as exhausted only after a read of 0 bytes, so every read that follows a
// short one is tried at once and fails: one wasted recvfrom() per message,
// two per request/response through the TCP plane. nginx avoids it by taking
// a short read as "drained" and EPOLLRDHUP as the sign of a pending FIN;
// Asio registers no EPOLLRDHUP, so lb asks the kernel instead: with TCP_INQ
// set on the socket, recvmsg() returns the bytes still queued after the
// read, and 1 when none are but the peer's FIN has arrived (so a FIN that
// came with the last bytes is still read, not waited for). A read that
// leaves nothing queued completes as "done_and_exhausted": the reactor then
// queues the next read without trying it, and any byte arriving after this
// read's recvmsg() raises a new edge-triggered event that performs it.
//
// The operation is Asio's own kind (a reactor_op started on the socket's
// per-descriptor state), so cancellation, close and shutdown treat it as
// they treat async_read_some. It reaches into Boost.Asio's detail
// namespace, which is why it is pinned to the Boost version it was written
// against (Debian 12's); another version fails the build here rather than
// misbehaving.

#include <cstddef>
#include <memory>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <boost/version.hpp>

static_assert(BOOST_VERSION == 107400,
              "lb/io/inq_read.h starts a reactor operation through Boost.Asio 1.74's detail API; "
              "check it against this Boost version's epoll_reactor before changing the pin");

namespace lb::io {

// Thread: any. Asks the kernel to report the bytes left queued after each
// recvmsg() on `fd` (TCP_INQ). Returns false when it cannot (the reads
// then work as before, trying once more before each wait).
bool enable_inq(int fd);

namespace inq_detail {

namespace ad = boost::asio::detail;

// The part that does not depend on the handler: the recvmsg() and what its
// result means to the reactor.
class read_op_base : public ad::reactor_op {
 public:
  read_op_base(int fd, boost::asio::mutable_buffer buf, func_type complete)
      : reactor_op(boost::system::error_code(), &read_op_base::do_perform, complete), fd_(fd), buf_(buf) {}

  static status do_perform(reactor_op* base);

 private:
  int fd_;
  boost::asio::mutable_buffer buf_;
};

template <class Handler, class IoExecutor>
class read_op : public read_op_base {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(read_op);

  read_op(int fd, boost::asio::mutable_buffer buf, Handler& handler, const IoExecutor& io_ex)
      : read_op_base(fd, buf, &read_op::do_complete), handler_(std::move(handler)), work_(handler_, io_ex) {}

  // As reactive_socket_recv_op::do_complete: the handler moves out and the
  // operation's memory is freed before the upcall; `owner` is null when the
  // io_context is being destroyed (no upcall then).
  static void do_complete(void* owner, ad::operation* base, const boost::system::error_code&, std::size_t) {
    auto* o = static_cast<read_op*>(base);
    ptr p = {std::addressof(o->handler_), o, o};
    ad::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    ad::binder2<Handler, boost::system::error_code, std::size_t> handler(o->handler_, o->ec_,
                                                                         o->bytes_transferred_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block b(ad::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

// The socket's per-descriptor reactor state (basic_socket keeps it protected).
struct socket_access : boost::asio::ip::tcp::socket {
  static auto& impl(boost::asio::ip::tcp::socket& s) { return (s.*(&socket_access::impl_)).get_implementation(); }
};

// Thread: the socket's. The reactor of the socket's io_context, looked up
// once per thread and context.
ad::reactor& reactor_of(boost::asio::ip::tcp::socket& s);

}  // namespace inq_detail

// Thread: the socket's. async_read_some for non-blocking TCP sockets of one
// io_context, with each socket's drained state passed to the reactor (see
// above). Completes with (error_code, bytes): eof at end of stream,
// operation_aborted when cancelled or closed.
class inq_reader {
 public:
  explicit inq_reader(boost::asio::ip::tcp::socket& s) : reactor_(&inq_detail::reactor_of(s)) {}

  template <class Token>
  auto async_read(boost::asio::ip::tcp::socket& s, boost::asio::mutable_buffer buf, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [](auto handler, inq_detail::ad::reactor* reactor, boost::asio::ip::tcp::socket* s,
           boost::asio::mutable_buffer buf) {
          using handler_type = std::decay_t<decltype(handler)>;
          using executor_type = boost::asio::ip::tcp::socket::executor_type;
          using op = inq_detail::read_op<handler_type, executor_type>;
          const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
          typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
          p.p = new (p.v) op(s->native_handle(), buf, handler, s->get_executor());
          auto& impl = inq_detail::socket_access::impl(*s);
          reactor->start_op(inq_detail::ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                            true);
          p.v = p.p = nullptr;
        },
        token, reactor_, &s, buf);
  }

 private:
  inq_detail::ad::reactor* reactor_;
};

}  // namespace lb::io
