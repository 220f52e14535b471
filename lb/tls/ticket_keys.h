#pragma once
// Session-ticket keys shared by every worker and every TLS listener, held by
// the control thread and never in a config snapshot, so a ticket issued by one
// worker resumes on another and after any reload. Either lb makes its own
// keys and rotates them every `ticket_key_rotation` (the previous key still
// decrypts for one period), or they come from `ticket_keys_file` (nginx's
// ssl_session_ticket_key format: 80 bytes a key, the first encrypts), so
// replicas that share the file (one Kubernetes Secret) resume each other's
// sessions.

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

struct ssl_ctx_st;

namespace lb::tls {

struct ticket_key {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> hmac{};
  std::array<unsigned char, 32> aes{};
};

struct ticket_key_set {
  std::vector<ticket_key> keys;  // keys[0] encrypts; all decrypt
};

class ticket_keys {
 public:
  ticket_keys();

  // Thread: control. A fresh random key becomes the encrypting one; the one
  // before it still decrypts; older ones are dropped.
  void rotate();
  // Thread: control. Replaces the keys with those of `path`; on failure
  // returns the reason and keeps the keys in use.
  std::string load_file(const std::string& path);
  // Thread: control. Back to keys of lb's own after a file was used (a new
  // one; no-op when they are lb's own already).
  void use_own();
  // Thread: control. Whether the keys come from a file (no rotation then).
  bool from_file() const { return from_file_; }

  // Thread: any (workers, in handshakes). The keys now.
  std::shared_ptr<const ticket_key_set> current() const { return keys_.load(std::memory_order_acquire); }

  // Thread: control. Makes `ctx` issue and accept tickets with these keys
  // (which must outlive it).
  void attach(ssl_ctx_st* ctx);

 private:
  std::atomic<std::shared_ptr<const ticket_key_set>> keys_;
  bool from_file_ = false;
};

// Thread: any. The keys of a nginx-format key file's bytes (a multiple of 80),
// or nullopt with `why` set.
std::shared_ptr<const ticket_key_set> parse_key_file(const std::string& bytes, std::string& why);

}  // namespace lb::tls
