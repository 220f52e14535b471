#include "lb/io/inq_read.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>

namespace lb::io {

bool enable_inq(int fd) {
  const int one = 1;
  return ::setsockopt(fd, SOL_TCP, TCP_INQ, &one, sizeof one) == 0;
}

namespace inq_detail {

ad::reactor_op::status read_op_base::do_perform(reactor_op* base) {
  auto* o = static_cast<read_op_base*>(base);
  if (o->buf_.size() == 0) return done;  // as Asio: an empty read completes at once
  ::iovec iov{o->buf_.data(), o->buf_.size()};
  alignas(::cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  ::msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  for (;;) {
    const auto n = ::recvmsg(o->fd_, &msg, 0);
    if (n > 0) {
      o->bytes_transferred_ = static_cast<std::size_t>(n);
      // No TCP_CM_INQ (TCP_INQ not set): unknown, so the next read is tried first, as before.
      for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_TCP || c->cmsg_type != TCP_CM_INQ) continue;
        int inq = 0;
        std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
        return inq == 0 ? done_and_exhausted : done;
      }
      return done;
    }
    if (n == 0) {
      o->ec_ = boost::asio::error::eof;
      return done_and_exhausted;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
    o->ec_ = boost::system::error_code(errno, boost::asio::error::get_system_category());
    return done;
  }
}

ad::reactor& reactor_of(boost::asio::ip::tcp::socket& s) {
  thread_local boost::asio::execution_context* cached_context = nullptr;
  thread_local ad::reactor* cached = nullptr;
  auto& ctx = boost::asio::query(s.get_executor(), boost::asio::execution::context);
  if (&ctx != cached_context) {
    cached = &boost::asio::use_service<ad::reactor>(ctx);
    cached_context = &ctx;
  }
  return *cached;
}

}  // namespace inq_detail
}  // namespace lb::io
