#include "hxtp/text.h"

namespace hxtp {

namespace {
const char kHex[] = "0123456789abcdef";
const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

void Writer::u64(uint64_t v) {
  char digits[21];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  char out[21];
  for (size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  put(out, n);
}

void Writer::i64(int64_t v) {
  if (v < 0) {
    put('-');
    u64(static_cast<uint64_t>(-(v + 1)) + 1);
  } else {
    u64(static_cast<uint64_t>(v));
  }
}

void Writer::hex(const uint8_t* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    put(kHex[data[i] >> 4]);
    put(kHex[data[i] & 0x0f]);
  }
}

void Writer::json_escaped(Span s) {
  for (size_t i = 0; i < s.n; ++i) {
    unsigned char c = static_cast<unsigned char>(s.p[i]);
    switch (c) {
      case '"': put("\\\"", 2); break;
      case '\\': put("\\\\", 2); break;
      case '\n': put("\\n", 2); break;
      case '\r': put("\\r", 2); break;
      case '\t': put("\\t", 2); break;
      case '\b': put("\\b", 2); break;
      case '\f': put("\\f", 2); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0x0f]};
          put(esc, 6);
        } else {
          put(static_cast<char>(c));
        }
    }
  }
}

void Writer::pipe_escaped(Span s) {
  for (size_t i = 0; i < s.n; ++i) {
    char c = s.p[i];
    switch (c) {
      case '\\': put("\\\\", 2); break;
      case '|': put("\\|", 2); break;
      case '\n': put("\\n", 2); break;
      case '\r': put("\\r", 2); break;
      default: put(c);
    }
  }
}

void hex_encode(const uint8_t* data, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0x0f];
  }
  out[2 * n] = '\0';
}

bool hex_decode(Span text, uint8_t* out, size_t n) {
  if (text.n != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    int hi = hex_value(text.p[2 * i]);
    int lo = hex_value(text.p[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return true;
}

size_t base64_encode(const uint8_t* data, size_t n, char* out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = static_cast<uint32_t>(data[i]) << 16;
    if (i + 1 < n) v |= static_cast<uint32_t>(data[i + 1]) << 8;
    if (i + 2 < n) v |= data[i + 2];
    out[o++] = kBase64[(v >> 18) & 63];
    out[o++] = kBase64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? kBase64[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? kBase64[v & 63] : '=';
  }
  out[o] = '\0';
  return o;
}

void uuid_v4(const uint8_t bytes[16], char out[37]) {
  uint8_t b[16];
  std::memcpy(b, bytes, 16);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  size_t o = 0;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = kHex[b[i] >> 4];
    out[o++] = kHex[b[i] & 0x0f];
  }
  out[o] = '\0';
}

bool constant_time_equal(const uint8_t* a, const uint8_t* b, size_t n) {
  uint8_t diff = 0;
  for (size_t i = 0; i < n; ++i) diff = static_cast<uint8_t>(diff | (a[i] ^ b[i]));
  return diff == 0;
}

}  // namespace hxtp
