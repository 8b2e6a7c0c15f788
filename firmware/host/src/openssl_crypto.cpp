#include "openssl_crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>

namespace hxtp_host {

void OpenSslCrypto::sha256(const hxtp::Span* parts, size_t count, uint8_t out[32]) {
  Sha256Stream stream;
  for (size_t i = 0; i < count; ++i) stream.update(parts[i].p, parts[i].n);
  stream.finish(out);
}

void OpenSslCrypto::hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t len,
                                uint8_t out[32]) {
  unsigned int out_len = 32;
  if (HMAC(EVP_sha256(), key, static_cast<int>(key_len), msg, len, out, &out_len) == nullptr) std::abort();
}

bool OpenSslCrypto::ed25519_verify(const uint8_t public_key[32], const uint8_t* msg, size_t len,
                                   const uint8_t sig[64]) {
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key, 32);
  if (key == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

void OpenSslCrypto::random(uint8_t* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) std::abort();
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Stream::update(const void* data, size_t n) {
  if (n > 0) EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
}

void Sha256Stream::finish(uint8_t out[32]) {
  unsigned int len = 32;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out, &len);
}

}  // namespace hxtp_host
