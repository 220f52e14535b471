#include "lb/listener/listen_socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/system_error.hpp>

#include "lb/io/inq_read.h"

namespace lb::listener {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

listen_socket& listen_socket::operator=(listen_socket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    protocol_ = o.protocol_;
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

listen_socket::~listen_socket() {
  if (fd_ >= 0) ::close(fd_);
}

tcp::endpoint listen_socket::local_endpoint() const {
  tcp::endpoint ep;
  socklen_t len = static_cast<socklen_t>(ep.capacity());
  if (::getsockname(fd_, ep.data(), &len) != 0)
    throw boost::system::system_error(errno, boost::system::system_category(), "getsockname");
  ep.resize(len);
  return ep;
}

tcp::acceptor listen_socket::attach(asio::io_context& io) && {
  // Accepted sockets inherit TCP_INQ: their reads then learn when they have
  // drained the socket, saving an EAGAIN recv per message (io/inq_read.h).
  io::enable_inq(fd_);
  tcp::acceptor a(io, protocol_, fd_);
  fd_ = -1;  // the acceptor owns it now (it closed it if it threw)
  return a;
}

listen_socket adopt_listening(int fd) {
  auto fail = [fd](int err, const char* what) {
    ::close(fd);
    return boost::system::system_error(err, boost::system::system_category(), what);
  };
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw fail(errno, "getsockname");
  int listening = 0;
  socklen_t optlen = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) != 0) throw fail(errno, "SO_ACCEPTCONN");
  if (!listening || (addr.ss_family != AF_INET && addr.ss_family != AF_INET6))
    throw fail(EINVAL, "handed socket is not a listening TCP socket");
  return {addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd};
}

std::vector<listen_socket> bind_reuseport(asio::io_context& scratch, unsigned count, tcp::endpoint ep) {
  std::vector<listen_socket> out;
  out.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    tcp::acceptor a(scratch);
    a.open(ep.protocol());
    a.set_option(asio::socket_base::reuse_address(true));
    int one = 1;
    if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      throw boost::system::system_error(errno, boost::system::system_category(), "SO_REUSEPORT");
    if (ep.address().is_v6()) a.set_option(asio::ip::v6_only(true));
    a.bind(ep);
    a.listen(asio::socket_base::max_listen_connections);
    ep = a.local_endpoint();  // port 0 resolved by the first bind
    out.emplace_back(ep.protocol(), a.release());
  }
  return out;
}

}  // namespace lb::listener
