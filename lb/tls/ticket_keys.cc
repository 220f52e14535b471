#include "lb/tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace lb::tls {

namespace {

int ex_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

ticket_key random_key() {
  ticket_key k;
  RAND_bytes(k.name.data(), static_cast<int>(k.name.size()));
  RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size()));
  RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size()));
  return k;
}

// OpenSSL's ticket callback (RFC 5077 layout: name, IV, AES-256-CBC, HMAC-SHA256).
// Returns 1 to use the key, 2 to accept an old key and issue a new ticket,
// 0 for "no such key" (a full handshake follows), -1 on error.
int on_ticket(SSL* ssl, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac, int encrypt) {
  const auto* owner =
      static_cast<const ticket_keys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index()));
  if (!owner) return -1;
  const auto set = owner->current();
  if (!set || set->keys.empty()) return -1;
  const ticket_key* key = nullptr;
  bool newest = false;
  if (encrypt) {
    key = &set->keys.front();
    newest = true;
    std::memcpy(name, key->name.data(), 16);
    if (RAND_bytes(iv, 16) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv) != 1) return -1;
  } else {
    for (std::size_t i = 0; i < set->keys.size(); ++i)
      if (std::memcmp(name, set->keys[i].name.data(), 16) == 0) {
        key = &set->keys[i];
        newest = i == 0;
        break;
      }
    if (!key) return 0;
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv) != 1) return -1;
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac.data()),
                                        key->hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  return encrypt || newest ? 1 : 2;
}

}  // namespace

ticket_keys::ticket_keys() {
  auto set = std::make_shared<ticket_key_set>();
  set->keys.push_back(random_key());
  keys_.store(std::move(set), std::memory_order_release);
}

void ticket_keys::rotate() {
  if (from_file_) return;
  auto next = std::make_shared<ticket_key_set>();
  next->keys.push_back(random_key());
  if (const auto cur = current(); cur && !cur->keys.empty()) next->keys.push_back(cur->keys.front());
  keys_.store(std::move(next), std::memory_order_release);
}

void ticket_keys::use_own() {
  if (!from_file_) return;
  from_file_ = false;
  auto set = std::make_shared<ticket_key_set>();
  set->keys.push_back(random_key());
  keys_.store(std::move(set), std::memory_order_release);
}

std::shared_ptr<const ticket_key_set> parse_key_file(const std::string& bytes, std::string& why) {
  constexpr std::size_t size = 80;
  if (bytes.empty() || bytes.size() % size != 0) {
    why = "expected one or more 80-byte keys (openssl rand 80), got " + std::to_string(bytes.size()) + " bytes";
    return nullptr;
  }
  auto set = std::make_shared<ticket_key_set>();
  for (std::size_t at = 0; at < bytes.size(); at += size) {
    ticket_key k;
    std::memcpy(k.name.data(), bytes.data() + at, 16);
    std::memcpy(k.hmac.data(), bytes.data() + at + 16, 32);
    std::memcpy(k.aes.data(), bytes.data() + at + 48, 32);
    set->keys.push_back(k);
  }
  return set;
}

std::string ticket_keys::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read ticket key file: " + std::string(std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  std::string why;
  auto set = parse_key_file(bytes.str(), why);
  if (!set) return why;
  keys_.store(std::move(set), std::memory_order_release);
  from_file_ = true;
  return {};
}

void ticket_keys::attach(ssl_ctx_st* ctx) {
  SSL_CTX_set_ex_data(ctx, ex_index(), this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &on_ticket);
}

}  // namespace lb::tls
