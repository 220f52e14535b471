#include "lb/proto/tcp/upstream_header.h"

#include <sys/socket.h>

#include <algorithm>
#include <vector>

#include <openssl/ssl.h>

#include "lb/io/tls_stream.h"

namespace lb::proto::tcp {

namespace {

proxy::endpoint local_endpoint(io::stream& s) {
  proxy::endpoint ep;
  socklen_t len = static_cast<socklen_t>(ep.capacity());
  if (::getsockname(s.native_handle(), ep.data(), &len) == 0) ep.resize(len);
  return ep;
}

// What lb knows itself of a TLS connection it terminated.
void tls_tlvs(io::stream& client, std::vector<proxy::tlv>& out) {
  auto* tls = dynamic_cast<io::tls_stream*>(&client);
  if (!tls || !tls->ssl()) return;
  SSL* ssl = tls->ssl();
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn_len) out.push_back({proxy::tlv_alpn, std::string(reinterpret_cast<const char*>(alpn), alpn_len)});
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
    out.push_back({proxy::tlv_authority, sni});
  // PP2_TYPE_SSL: client flags (PP2_CLIENT_SSL), verify result 0, then the
  // version sub-TLV.
  const std::string version = SSL_get_version(ssl);
  std::string ssl_value{'\x01', '\0', '\0', '\0', '\0'};
  ssl_value += static_cast<char>(proxy::tlv_ssl_version);
  ssl_value += static_cast<char>(version.size() >> 8);
  ssl_value += static_cast<char>(version.size() & 0xFF);
  ssl_value += version;
  out.push_back({proxy::tlv_ssl, std::move(ssl_value)});
}

}  // namespace

std::string upstream_header(config::proxy_version v, io::stream& client, const proxy::endpoint& peer,
                            const proxy::header* proxied, std::string_view sni) {
  const bool named = proxied && !proxied->local;
  const auto dst = named ? proxied->destination : local_endpoint(client);
  std::string out;
  if (v == config::proxy_version::v1) {
    proxy::write_v1(out, peer, dst);
    return out;
  }
  std::vector<proxy::tlv> tlvs;
  tls_tlvs(client, tlvs);
  if (!sni.empty()) tlvs.push_back({proxy::tlv_authority, std::string(sni)});
  // Received TLVs go on, but for the kinds lb has first-hand values for.
  if (proxied) {
    for (const auto& t : proxied->tlvs)
      if (std::none_of(tlvs.begin(), tlvs.end(), [&](const proxy::tlv& o) { return o.type == t.type; }))
        tlvs.push_back(t);
  }
  proxy::write_v2(out, peer, dst, tlvs);
  return out;
}

}  // namespace lb::proto::tcp
