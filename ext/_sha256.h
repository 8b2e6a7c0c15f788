/*
 * SHA-256 (FIPS 180-4) and keyed HMAC-SHA256 (RFC 2104) for ext/_hotpath.pyx.
 *
 * Header-only and dependency-free: no libcrypto, only the C library and, on x86, compiler intrinsics.
 * Two compression functions compute the same thing:
 *   - a portable one written straight from FIPS 180-4 section 6.2.2;
 *   - one using the x86 SHA extensions (SHA-NI), chosen at run time when the CPU has them.
 * The HMAC key object keeps the SHA-256 state after absorbing (key ^ ipad) and (key ^ opad), so a
 * signature costs only the message blocks plus one outer block (RFC 2104, section 4 note).
 */
#ifndef HXTP_SHA256_H
#define HXTP_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HXTP_SHA256_BLOCK 64
#define HXTP_SHA256_DIGEST 32

typedef void (*hxtp_compress_fn)(uint32_t state[8], const uint8_t *blocks, size_t count);

typedef struct {
    uint32_t inner[8]; /* state after the block key ^ 0x36.. */
    uint32_t outer[8]; /* state after the block key ^ 0x5c.. */
} hxtp_hmac_key;

/* FIPS 180-4 section 4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t hxtp_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* FIPS 180-4 section 5.3.3: initial hash value. */
static const uint32_t hxtp_sha256_h0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline uint32_t hxtp_rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t hxtp_load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void hxtp_store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* FIPS 180-4 section 6.2.2, with the message schedule kept in a 16-word ring. */
static void hxtp_compress_portable(uint32_t state[8], const uint8_t *blocks, size_t count) {
    uint32_t w[16];
    while (count--) {
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (int t = 0; t < 64; t++) {
            uint32_t wt;
            if (t < 16) {
                wt = hxtp_load_be32(blocks + 4 * t);
            } else {
                uint32_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
                uint32_t s0 = hxtp_rotr(w15, 7) ^ hxtp_rotr(w15, 18) ^ (w15 >> 3);
                uint32_t s1 = hxtp_rotr(w2, 17) ^ hxtp_rotr(w2, 19) ^ (w2 >> 10);
                wt = s1 + w[(t - 7) & 15] + s0 + w[t & 15];
            }
            w[t & 15] = wt;
            uint32_t big_s1 = hxtp_rotr(e, 6) ^ hxtp_rotr(e, 11) ^ hxtp_rotr(e, 25);
            uint32_t ch = (e & f) ^ (~e & g);
            uint32_t t1 = h + big_s1 + ch + hxtp_sha256_k[t] + wt;
            uint32_t big_s0 = hxtp_rotr(a, 2) ^ hxtp_rotr(a, 13) ^ hxtp_rotr(a, 22);
            uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            uint32_t t2 = big_s0 + maj;
            h = g; g = f; f = e; e = d + t1;
            d = c; c = b; b = a; a = t1 + t2;
        }
        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
        blocks += HXTP_SHA256_BLOCK;
    }
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define HXTP_HAVE_SHANI_PATH 1
#include <cpuid.h>
#include <immintrin.h>

/*
 * SHA-NI keeps the eight working variables in two registers, ABEF and CDGH (A in the top lane).
 * _mm_sha256rnds2_epu32 runs two rounds with the two W+K words in the low lanes of its third
 * argument and returns the new ABEF; the old ABEF becomes the new CDGH.
 * _mm_sha256msg1_epu32 / _mm_sha256msg2_epu32 compute the sigma0 / sigma1 parts of the schedule.
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void hxtp_compress_shani(uint32_t state[8], const uint8_t *blocks, size_t count) {
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]); /* lanes 0..3 = A B C D */
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]); /* lanes 0..3 = E F G H */
    __m128i badc = _mm_shuffle_epi32(dcba, 0xB1);                /* B A D C */
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);                /* H G F E */
    __m128i abef = _mm_alignr_epi8(badc, efgh, 8);               /* F E B A */
    __m128i cdgh = _mm_blend_epi16(efgh, badc, 0xF0);            /* H G D C */

    while (count--) {
        const __m128i abef_start = abef, cdgh_start = cdgh;
        __m128i w[4]; /* the last four groups of four schedule words */
        for (int group = 0; group < 16; group++) {
            __m128i words;
            if (group < 4) {
                words = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 16 * group)), byteswap);
            } else {
                /* W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16], four words at a time. */
                __m128i partial = _mm_sha256msg1_epu32(w[group & 3], w[(group + 1) & 3]);
                partial = _mm_add_epi32(partial, _mm_alignr_epi8(w[(group + 3) & 3], w[(group + 2) & 3], 4));
                words = _mm_sha256msg2_epu32(partial, w[(group + 3) & 3]);
            }
            w[group & 3] = words;
            __m128i wk = _mm_add_epi32(words, _mm_loadu_si128((const __m128i *)&hxtp_sha256_k[4 * group]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            /* Now cdgh holds the new ABEF and abef the new CDGH; the next two rounds swap them back. */
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef_start);
        cdgh = _mm_add_epi32(cdgh, cdgh_start);
        blocks += HXTP_SHA256_BLOCK;
    }

    __m128i abef_rev = _mm_shuffle_epi32(abef, 0x1B);             /* A B E F */
    __m128i cdgh_rev = _mm_shuffle_epi32(cdgh, 0xB1);             /* G H C D */
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(abef_rev, cdgh_rev, 0xF0)); /* A B C D */
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(cdgh_rev, abef_rev, 8));    /* E F G H */
}

static int hxtp_cpu_has_shani(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return ssse3 && sse41 && ((ebx >> 29) & 1);
}
#else
#define HXTP_HAVE_SHANI_PATH 0
static int hxtp_cpu_has_shani(void) { return 0; }
#endif

static hxtp_compress_fn hxtp_compress = hxtp_compress_portable;

/* Picks the compression function; `portable_only` lets tests exercise the portable path on SHA-NI CPUs.
 * Returns 1 when the SHA-NI path is in use. */
static int hxtp_sha256_select(int portable_only) {
#if HXTP_HAVE_SHANI_PATH
    if (!portable_only && hxtp_cpu_has_shani()) {
        hxtp_compress = hxtp_compress_shani;
        return 1;
    }
#endif
    (void)portable_only;
    hxtp_compress = hxtp_compress_portable;
    return 0;
}

/* Continues `state`, which has already absorbed `prefix_len` bytes (a multiple of 64), with `len`
 * message bytes, pads per FIPS 180-4 section 5.1.1 and writes the big-endian digest. */
static void hxtp_sha256_finish(uint32_t state[8], uint64_t prefix_len, const uint8_t *msg, size_t len,
                               uint8_t digest[HXTP_SHA256_DIGEST]) {
    size_t full = len / HXTP_SHA256_BLOCK;
    if (full) hxtp_compress(state, msg, full);
    size_t rest = len - full * HXTP_SHA256_BLOCK;
    uint8_t tail[2 * HXTP_SHA256_BLOCK];
    memset(tail, 0, sizeof tail);
    memcpy(tail, msg + full * HXTP_SHA256_BLOCK, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest + 9 <= HXTP_SHA256_BLOCK ? HXTP_SHA256_BLOCK : 2 * HXTP_SHA256_BLOCK;
    uint64_t bits = (prefix_len + (uint64_t)len) * 8;
    hxtp_store_be32(tail + tail_len - 8, (uint32_t)(bits >> 32));
    hxtp_store_be32(tail + tail_len - 4, (uint32_t)bits);
    hxtp_compress(state, tail, tail_len / HXTP_SHA256_BLOCK);
    for (int i = 0; i < 8; i++) hxtp_store_be32(digest + 4 * i, state[i]);
}

static void hxtp_sha256(const uint8_t *msg, size_t len, uint8_t digest[HXTP_SHA256_DIGEST]) {
    uint32_t state[8];
    memcpy(state, hxtp_sha256_h0, sizeof state);
    hxtp_sha256_finish(state, 0, msg, len, digest);
}

/* RFC 2104: keys longer than a block are hashed first, shorter ones zero-padded. */
static void hxtp_hmac_init(hxtp_hmac_key *key, const uint8_t *secret, size_t secret_len) {
    uint8_t block[HXTP_SHA256_BLOCK];
    uint8_t pad[HXTP_SHA256_BLOCK];
    memset(block, 0, sizeof block);
    if (secret_len > HXTP_SHA256_BLOCK) {
        hxtp_sha256(secret, secret_len, block);
    } else if (secret_len) {
        memcpy(block, secret, secret_len);
    }
    for (int i = 0; i < HXTP_SHA256_BLOCK; i++) pad[i] = block[i] ^ 0x36;
    memcpy(key->inner, hxtp_sha256_h0, sizeof key->inner);
    hxtp_compress(key->inner, pad, 1);
    for (int i = 0; i < HXTP_SHA256_BLOCK; i++) pad[i] = block[i] ^ 0x5c;
    memcpy(key->outer, hxtp_sha256_h0, sizeof key->outer);
    hxtp_compress(key->outer, pad, 1);
    /* The raw key stays only inside the precomputed states; a volatile write keeps the wipe. */
    volatile uint8_t *wipe_block = block, *wipe_pad = pad;
    for (int i = 0; i < HXTP_SHA256_BLOCK; i++) { wipe_block[i] = 0; wipe_pad[i] = 0; }
}

static void hxtp_hmac_sign(const hxtp_hmac_key *key, const uint8_t *msg, size_t len,
                           uint8_t mac[HXTP_SHA256_DIGEST]) {
    uint32_t state[8];
    uint8_t inner_digest[HXTP_SHA256_DIGEST];
    memcpy(state, key->inner, sizeof state);
    hxtp_sha256_finish(state, HXTP_SHA256_BLOCK, msg, len, inner_digest);
    memcpy(state, key->outer, sizeof state);
    hxtp_sha256_finish(state, HXTP_SHA256_BLOCK, inner_digest, HXTP_SHA256_DIGEST, mac);
}

static void hxtp_hex_lower(const uint8_t *bytes, size_t len, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
}

/* Time depends on `len` only, never on where the bytes differ. */
static int hxtp_equal_ct(const char *a, const char *b, size_t len) {
    unsigned int diff = 0;
    for (size_t i = 0; i < len; i++) diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
    return diff == 0;
}

#endif /* HXTP_SHA256_H */
