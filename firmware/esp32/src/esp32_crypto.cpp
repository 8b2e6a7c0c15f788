#include "esp32_crypto.h"

#include <Ed25519.h>
#include <esp_random.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include <cstring>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define SHA_START(c) mbedtls_sha256_starts((c), 0)
#define SHA_UPDATE(c, d, n) mbedtls_sha256_update((c), (d), (n))
#define SHA_FINISH(c, o) mbedtls_sha256_finish((c), (o))
#else
#define SHA_START(c) mbedtls_sha256_starts_ret((c), 0)
#define SHA_UPDATE(c, d, n) mbedtls_sha256_update_ret((c), (d), (n))
#define SHA_FINISH(c, o) mbedtls_sha256_finish_ret((c), (o))
#endif

void Esp32Crypto::sha256(const hxtp::Span* parts, size_t count, uint8_t out[32]) {
  mbedtls_sha256_context ctx;
  mbedtls_sha256_init(&ctx);
  SHA_START(&ctx);
  for (size_t i = 0; i < count; ++i) SHA_UPDATE(&ctx, reinterpret_cast<const unsigned char*>(parts[i].p), parts[i].n);
  SHA_FINISH(&ctx, out);
  mbedtls_sha256_free(&ctx);
}

void Esp32Crypto::hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t len, uint8_t out[32]) {
  uint8_t block[64] = {};
  if (key_len > 64) {
    hxtp::Span k(reinterpret_cast<const char*>(key), key_len);
    sha256(&k, 1, block);
  } else {
    std::memcpy(block, key, key_len);
  }
  uint8_t pad[64], inner[32];
  for (int i = 0; i < 64; ++i) pad[i] = block[i] ^ 0x36;
  hxtp::Span first[2] = {hxtp::Span(reinterpret_cast<const char*>(pad), 64),
                         hxtp::Span(reinterpret_cast<const char*>(msg), len)};
  sha256(first, 2, inner);
  for (int i = 0; i < 64; ++i) pad[i] = block[i] ^ 0x5c;
  hxtp::Span second[2] = {hxtp::Span(reinterpret_cast<const char*>(pad), 64),
                          hxtp::Span(reinterpret_cast<const char*>(inner), 32)};
  sha256(second, 2, out);
}

bool Esp32Crypto::ed25519_verify(const uint8_t public_key[32], const uint8_t* msg, size_t len, const uint8_t sig[64]) {
  return Ed25519::verify(sig, public_key, msg, len);
}

void Esp32Crypto::random(uint8_t* out, size_t n) { esp_fill_random(out, n); }

ImageHash::ImageHash() {
  mbedtls_sha256_init(&ctx_);
  SHA_START(&ctx_);
}

ImageHash::~ImageHash() { mbedtls_sha256_free(&ctx_); }

void ImageHash::update(const uint8_t* data, size_t n) { SHA_UPDATE(&ctx_, data, n); }

void ImageHash::finish(uint8_t out[32]) { SHA_FINISH(&ctx_, out); }
