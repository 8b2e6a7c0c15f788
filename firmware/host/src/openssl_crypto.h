// The core's crypto interface over OpenSSL (libssl-dev): the host build's backend.
#pragma once

#include "hxtp/crypto.h"

namespace hxtp_host {

class OpenSslCrypto : public hxtp::Crypto {
 public:
  void sha256(const hxtp::Span* parts, size_t count, uint8_t out[32]) override;
  void hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t len, uint8_t out[32]) override;
  bool ed25519_verify(const uint8_t public_key[32], const uint8_t* msg, size_t len, const uint8_t sig[64]) override;
  void random(uint8_t* out, size_t n) override;
};

// Streaming SHA-256 for images.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void update(const void* data, size_t n);
  void finish(uint8_t out[32]);

 private:
  void* ctx_;
};

}  // namespace hxtp_host
