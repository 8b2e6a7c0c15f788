// Fixed-capacity text helpers: a writer over a caller-owned buffer, hex, base64, UUID formatting.
// Nothing here allocates; a write past the end sets `overflow` and is dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace hxtp {

// A view of bytes owned by someone else (the received payload, a string literal, a buffer).
struct Span {
  const char* p = nullptr;
  size_t n = 0;

  constexpr Span() = default;
  constexpr Span(const char* data, size_t size) : p(data), n(size) {}
  static Span of(const char* cstr) { return Span(cstr, cstr ? std::strlen(cstr) : 0); }
  bool empty() const { return n == 0; }
  bool equals(const char* cstr) const {
    size_t len = std::strlen(cstr);
    return len == n && (n == 0 || std::memcmp(p, cstr, n) == 0);
  }
  bool equals(Span other) const { return other.n == n && (n == 0 || std::memcmp(p, other.p, n) == 0); }
};

class Writer {
 public:
  Writer(char* buf, size_t cap) : buf_(buf), cap_(cap) { terminate(); }

  void put(char c) {
    if (len_ + 1 >= cap_) {
      overflow_ = true;
      return;
    }
    buf_[len_++] = c;
    buf_[len_] = '\0';
  }
  void put(const char* data, size_t n) {
    if (len_ + n >= cap_) {
      overflow_ = true;
      return;
    }
    std::memcpy(buf_ + len_, data, n);
    len_ += n;
    buf_[len_] = '\0';
  }
  void put(Span s) { put(s.p, s.n); }
  void str(const char* cstr) { put(cstr, std::strlen(cstr)); }
  void u64(uint64_t v);
  void i64(int64_t v);
  void hex(const uint8_t* data, size_t n);
  // JSON string contents (no quotes): escapes " \ and every control character, so any text gives
  // valid JSON. Bytes >= 0x80 pass through (the caller's UTF-8).
  void json_escaped(Span s);
  // A JSON string with its quotes.
  void json_string(Span s) {
    put('"');
    json_escaped(s);
    put('"');
  }
  // Signing-string field escaping (spec §5.1): \ -> \\, | -> \|, LF -> \n, CR -> \r.
  void pipe_escaped(Span s);

  size_t size() const { return len_; }
  bool overflow() const { return overflow_; }
  const char* data() const { return buf_; }
  Span span() const { return Span(buf_, len_); }
  void reset() {
    len_ = 0;
    overflow_ = false;
    terminate();
  }

 private:
  void terminate() {
    if (cap_ > 0) buf_[len_] = '\0';
  }
  char* buf_;
  size_t cap_;
  size_t len_ = 0;
  bool overflow_ = false;
};

// Lowercase hex of n bytes into out (2n chars + NUL).
void hex_encode(const uint8_t* data, size_t n, char* out);
// Decodes exactly 2*n hex chars (either case) into n bytes; false on any other input.
bool hex_decode(Span text, uint8_t* out, size_t n);
// Standard base64 with padding; out needs 4*ceil(n/3)+1 bytes.
size_t base64_encode(const uint8_t* data, size_t n, char* out);
// A UUIDv4 text (36 chars + NUL) from 16 random bytes (version and variant bits set).
void uuid_v4(const uint8_t bytes[16], char out[37]);
// Constant-time comparison of equal-length byte strings.
bool constant_time_equal(const uint8_t* a, const uint8_t* b, size_t n);

}  // namespace hxtp
