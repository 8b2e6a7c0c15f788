// The core's crypto interface on the ESP32: SHA-256 from mbedTLS (stack contexts, no heap), HMAC
// built on it (RFC 2104), Ed25519 verification from rweather/Crypto, randomness from the hardware RNG.
#pragma once

#include <mbedtls/sha256.h>

#include "hxtp/crypto.h"

class Esp32Crypto : public hxtp::Crypto {
 public:
  void sha256(const hxtp::Span* parts, size_t count, uint8_t out[32]) override;
  void hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t len, uint8_t out[32]) override;
  bool ed25519_verify(const uint8_t public_key[32], const uint8_t* msg, size_t len, const uint8_t sig[64]) override;
  void random(uint8_t* out, size_t n) override;
};

// Streaming SHA-256 for OTA images.
class ImageHash {
 public:
  ImageHash();
  ~ImageHash();
  void update(const uint8_t* data, size_t n);
  void finish(uint8_t out[32]);

 private:
  mbedtls_sha256_context ctx_;
};
