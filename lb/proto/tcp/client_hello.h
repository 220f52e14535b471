#pragma once
// The TLS ClientHello as an SNI-routing TCP listener reads it without
// terminating TLS: the server name and the offered ALPN protocols, from the
// raw bytes of the flow's first TLS records. A pure function of its input
// (no I/O, no global state), so it can be fuzzed alone.
//
// - Reassembly: the handshake message may span several records (post-quantum
//   key shares make 1.5-2 KB hellos, and a client may fragment at will); the
//   records are joined up to max_client_hello bytes of handshake message.
// - Strictness: only what routing needs is validated (lengths that nest, one
//   SNI host_name of valid characters, a well-formed ALPN list); the origin
//   server checks the rest of the hello itself.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lb::proto::tcp {

// The largest ClientHello handshake message accepted (header included): one
// full record's worth, as HAProxy's and nginx's ssl_preread buffers.
inline constexpr std::size_t max_client_hello = 16384;
// The most bytes of the flow read for one (records can carry a few bytes
// each: 5-byte headers add up).
inline constexpr std::size_t max_client_hello_wire = max_client_hello + 2048;

enum class hello_status {
  incomplete,  // a valid prefix: read more
  complete,    // `out` is filled
  not_tls,     // the first bytes are not a TLS handshake record
  malformed,   // a TLS handshake record, but no valid ClientHello
  too_large,   // the hello (or the records carrying it) would pass the limits
};

struct client_hello {
  std::string sni;   // lower-cased, without a trailing dot; empty: none sent
  std::string alpn;  // the protocol_name_list as sent (1-byte length, name)...; empty: none
  std::size_t wire_length = 0;  // bytes of the flow the hello's records take

  // Whether the client offers `protocol` in its ALPN list.
  bool offers(std::string_view protocol) const;
};

// Thread: any. Parses the first bytes of a flow.
hello_status parse_client_hello(std::string_view wire, client_hello& out);

}  // namespace lb::proto::tcp
