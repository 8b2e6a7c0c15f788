// The small crypto interface the core needs. Backends: OpenSSL on the host (firmware/host),
// mbedTLS plus an Ed25519 verifier on the ESP32 (firmware/esp32). A backend must not keep
// pointers to the buffers it is given.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hxtp/text.h"

namespace hxtp {

class Crypto {
 public:
  virtual ~Crypto() = default;
  // SHA-256 over the concatenation of `count` parts.
  virtual void sha256(const Span* parts, size_t count, uint8_t out[32]) = 0;
  virtual void hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t len,
                           uint8_t out[32]) = 0;
  // RFC 8032 Ed25519 verification of `sig` over msg with the raw 32-byte public key.
  virtual bool ed25519_verify(const uint8_t public_key[32], const uint8_t* msg, size_t len,
                              const uint8_t sig[64]) = 0;
  // Cryptographically secure random bytes (client id, message ids, nonces).
  virtual void random(uint8_t* out, size_t n) = 0;
};

}  // namespace hxtp
