#pragma once
// The client-certificate fields of one request's upstream head (HTTP/1 and
// HTTP/2 planes alike): the names the listener gives them, which are always
// removed from what the client sent, and the connection's verified values.

#include <optional>
#include <string_view>

#include <boost/beast/core/string.hpp>

#include "lb/config/config.h"
#include "lb/tls/client_auth.h"

namespace lb::proto {

struct client_cert_fields {
  std::string_view subject_name;      // empty: not configured
  std::string_view fingerprint_name;
  std::string_view subject;           // empty: no verified certificate
  std::string_view fingerprint;

  bool any_name() const { return !subject_name.empty() || !fingerprint_name.empty(); }
  // Whether a client's field `name` is one lb owns (so it is dropped).
  bool owns(std::string_view name) const {
    return (!subject_name.empty() && boost::beast::iequals(name, subject_name)) ||
           (!fingerprint_name.empty() && boost::beast::iequals(name, fingerprint_name));
  }
  // Appends lb's own fields, `Name: value\r\n`, for the values known.
  template <class Append>
  void write(Append&& append) const {
    if (!subject_name.empty() && !subject.empty()) append(subject_name, subject);
    if (!fingerprint_name.empty() && !fingerprint.empty()) append(fingerprint_name, fingerprint);
  }
};

// The fields for a connection on a listener with TLS settings `t` (none:
// plain) whose verified client certificate is `id` (null: none).
inline client_cert_fields make_client_cert_fields(const std::optional<config::listener_tls>& t,
                                                  const tls::client_identity* id) {
  client_cert_fields cc;
  if (!t) return cc;
  cc.subject_name = t->subject_header;
  cc.fingerprint_name = t->fingerprint_header;
  if (id) {
    cc.subject = id->subject;
    cc.fingerprint = id->fingerprint;
  }
  return cc;
}

}  // namespace lb::proto
