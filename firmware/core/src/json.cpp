#include "hxtp/json.h"

#include <cstring>

namespace hxtp {
namespace json {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_ws(Span s, size_t pos) {
  while (pos < s.n && is_ws(s.p[pos])) ++pos;
  return pos;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read_hex4(Span s, size_t pos, uint32_t* out) {
  if (pos + 4 > s.n) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    int h = hexval(s.p[pos + i]);
    if (h < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(h);
  }
  *out = v;
  return true;
}

// Validates UTF-8 of one multi-byte sequence starting at s[pos]; returns its length or 0.
size_t utf8_len(Span s, size_t pos) {
  unsigned char c = static_cast<unsigned char>(s.p[pos]);
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (pos + len > s.n) return 0;
  for (size_t i = 1; i < len; ++i) {
    unsigned char d = static_cast<unsigned char>(s.p[pos + i]);
    if ((d & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// Scans a string starting at the opening quote; end = index after the closing quote.
bool scan_string(Span s, size_t pos, size_t* end) {
  if (pos >= s.n || s.p[pos] != '"') return false;
  ++pos;
  while (pos < s.n) {
    unsigned char c = static_cast<unsigned char>(s.p[pos]);
    if (c == '"') {
      *end = pos + 1;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      if (pos + 1 >= s.n) return false;
      char e = s.p[pos + 1];
      if (e == 'u') {
        uint32_t v;
        if (!read_hex4(s, pos + 2, &v)) return false;
        pos += 6;
      } else if (std::strchr("\"\\/bfnrt", e) != nullptr && e != '\0') {
        pos += 2;
      } else {
        return false;
      }
      continue;
    }
    size_t len = utf8_len(s, pos);
    if (len == 0) return false;
    pos += len;
  }
  return false;
}

bool scan_number(Span s, size_t pos, size_t* end) {
  size_t start = pos;
  if (pos < s.n && s.p[pos] == '-') ++pos;
  if (pos >= s.n) return false;
  if (s.p[pos] == '0') {
    ++pos;
  } else if (s.p[pos] >= '1' && s.p[pos] <= '9') {
    while (pos < s.n && s.p[pos] >= '0' && s.p[pos] <= '9') ++pos;
  } else {
    return false;
  }
  if (pos < s.n && s.p[pos] == '.') {
    ++pos;
    size_t digits = pos;
    while (pos < s.n && s.p[pos] >= '0' && s.p[pos] <= '9') ++pos;
    if (pos == digits) return false;
  }
  if (pos < s.n && (s.p[pos] == 'e' || s.p[pos] == 'E')) {
    ++pos;
    if (pos < s.n && (s.p[pos] == '+' || s.p[pos] == '-')) ++pos;
    size_t digits = pos;
    while (pos < s.n && s.p[pos] >= '0' && s.p[pos] <= '9') ++pos;
    if (pos == digits) return false;
  }
  *end = pos;
  return pos > start;
}

bool scan_literal(Span s, size_t pos, const char* word, size_t* end) {
  size_t n = std::strlen(word);
  if (pos + n > s.n || std::memcmp(s.p + pos, word, n) != 0) return false;
  *end = pos + n;
  return true;
}

bool scan_value(Span s, size_t pos, size_t* end, int depth) {
  pos = skip_ws(s, pos);
  if (pos >= s.n) return false;
  char c = s.p[pos];
  if (c == '"') return scan_string(s, pos, end);
  if (c == 't') return scan_literal(s, pos, "true", end);
  if (c == 'f') return scan_literal(s, pos, "false", end);
  if (c == 'n') return scan_literal(s, pos, "null", end);
  if (c == '-' || (c >= '0' && c <= '9')) return scan_number(s, pos, end);
  if (c != '{' && c != '[') return false;
  if (depth >= kMaxDepth) return false;
  char close = c == '{' ? '}' : ']';
  ++pos;
  pos = skip_ws(s, pos);
  if (pos < s.n && s.p[pos] == close) {
    *end = pos + 1;
    return true;
  }
  while (true) {
    size_t after;
    if (c == '{') {
      pos = skip_ws(s, pos);
      if (!scan_string(s, pos, &after)) return false;
      pos = skip_ws(s, after);
      if (pos >= s.n || s.p[pos] != ':') return false;
      ++pos;
    }
    if (!scan_value(s, pos, &after, depth + 1)) return false;
    pos = skip_ws(s, after);
    if (pos >= s.n) return false;
    if (s.p[pos] == ',') {
      ++pos;
      continue;
    }
    if (s.p[pos] == close) {
      *end = pos + 1;
      return true;
    }
    return false;
  }
}

void put_utf8(uint32_t cp, char* out, size_t cap, size_t* o, bool* ok) {
  char buf[4];
  size_t n;
  if (cp < 0x80) {
    buf[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    buf[0] = static_cast<char>(0xc0 | (cp >> 6));
    buf[1] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    buf[0] = static_cast<char>(0xe0 | (cp >> 12));
    buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    buf[2] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    buf[0] = static_cast<char>(0xf0 | (cp >> 18));
    buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    buf[3] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 4;
  }
  if (*o + n >= cap) {
    *ok = false;
    return;
  }
  std::memcpy(out + *o, buf, n);
  *o += n;
}

}  // namespace

Kind kind_of(Span v) {
  size_t pos = skip_ws(v, 0);
  if (pos >= v.n) return Kind::Invalid;
  switch (v.p[pos]) {
    case '{': return Kind::Object;
    case '[': return Kind::Array;
    case '"': return Kind::String;
    case 't': return Kind::True;
    case 'f': return Kind::False;
    case 'n': return Kind::Null;
    default: return (v.p[pos] == '-' || (v.p[pos] >= '0' && v.p[pos] <= '9')) ? Kind::Number : Kind::Invalid;
  }
}

bool valid(Span text) {
  size_t end;
  if (!scan_value(text, 0, &end, 0)) return false;
  return skip_ws(text, end) == text.n;
}

bool value_at(Span text, size_t pos, Span* value, size_t* end) {
  pos = skip_ws(text, pos);
  size_t after;
  if (!scan_value(text, pos, &after, 0)) return false;
  *value = Span(text.p + pos, after - pos);
  *end = after;
  return true;
}

Iter::Iter(Span container) : s_(container) {
  pos_ = skip_ws(s_, 0);
  ok_ = pos_ < s_.n && (s_.p[pos_] == '{' || s_.p[pos_] == '[');
  if (ok_) ++pos_;
}

bool Iter::next_member(Span* key, Span* value) {
  if (!ok_) return false;
  pos_ = skip_ws(s_, pos_);
  if (pos_ < s_.n && s_.p[pos_] == ',') pos_ = skip_ws(s_, pos_ + 1);
  if (pos_ >= s_.n || s_.p[pos_] != '"') {
    ok_ = false;
    return false;
  }
  size_t after;
  if (!scan_string(s_, pos_, &after)) {
    ok_ = false;
    return false;
  }
  *key = Span(s_.p + pos_, after - pos_);
  pos_ = skip_ws(s_, after);
  if (pos_ >= s_.n || s_.p[pos_] != ':') {
    ok_ = false;
    return false;
  }
  if (!value_at(s_, pos_ + 1, value, &after)) {
    ok_ = false;
    return false;
  }
  pos_ = after;
  return true;
}

bool Iter::next_element(Span* value) {
  if (!ok_) return false;
  pos_ = skip_ws(s_, pos_);
  if (pos_ < s_.n && s_.p[pos_] == ',') pos_ = skip_ws(s_, pos_ + 1);
  if (pos_ >= s_.n || s_.p[pos_] == ']') {
    ok_ = false;
    return false;
  }
  size_t after;
  if (!value_at(s_, pos_, value, &after)) {
    ok_ = false;
    return false;
  }
  pos_ = after;
  return true;
}

namespace {
bool key_equals(Span raw_key, const char* key) {
  char buf[64];
  size_t len;
  if (!get_string(raw_key, buf, sizeof buf, &len)) return false;
  return len == std::strlen(key) && std::memcmp(buf, key, len) == 0;
}
}  // namespace

bool get(Span obj, const char* key, Span* value) {
  if (kind_of(obj) != Kind::Object) return false;
  Iter it(obj);
  Span k, v;
  while (it.next_member(&k, &v)) {
    if (key_equals(k, key)) {
      *value = v;
      return true;
    }
  }
  return false;
}

bool has_duplicate_keys(Span obj) {
  Iter outer(obj);
  Span k1, v1;
  size_t index = 0;
  while (outer.next_member(&k1, &v1)) {
    char a[64];
    size_t alen;
    if (!get_string(k1, a, sizeof a, &alen)) return true;  // keys this long are not ours: refuse
    Iter inner(obj);
    Span k2, v2;
    for (size_t j = 0; j < index && inner.next_member(&k2, &v2); ++j) {
      char b[64];
      size_t blen;
      if (get_string(k2, b, sizeof b, &blen) && blen == alen && std::memcmp(a, b, alen) == 0) return true;
    }
    ++index;
  }
  return false;
}

bool get_string(Span v, char* out, size_t cap, size_t* len) {
  size_t pos = skip_ws(v, 0);
  size_t end;
  if (cap == 0 || !scan_string(v, pos, &end)) return false;
  size_t o = 0;
  bool ok = true;
  for (size_t i = pos + 1; i < end - 1 && ok;) {
    char c = v.p[i];
    if (c != '\\') {
      if (o + 1 >= cap) return false;
      out[o++] = c;
      ++i;
      continue;
    }
    char e = v.p[i + 1];
    if (e == 'u') {
      uint32_t cp;
      read_hex4(v, i + 2, &cp);
      i += 6;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t lo;
        if (i + 6 > end - 1 || v.p[i] != '\\' || v.p[i + 1] != 'u' || !read_hex4(v, i + 2, &lo) ||
            lo < 0xdc00 || lo > 0xdfff)
          return false;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i += 6;
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        return false;
      }
      put_utf8(cp, out, cap, &o, &ok);
      continue;
    }
    char d;
    switch (e) {
      case 'n': d = '\n'; break;
      case 'r': d = '\r'; break;
      case 't': d = '\t'; break;
      case 'b': d = '\b'; break;
      case 'f': d = '\f'; break;
      default: d = e;  // " \ /
    }
    if (o + 1 >= cap) return false;
    out[o++] = d;
    i += 2;
  }
  if (!ok) return false;
  out[o] = '\0';
  if (len != nullptr) *len = o;
  return true;
}

bool get_int64(Span v, int64_t* out) {
  size_t pos = skip_ws(v, 0);
  size_t end;
  if (!scan_number(v, pos, &end)) return false;
  bool neg = v.p[pos] == '-';
  size_t i = neg ? pos + 1 : pos;
  uint64_t acc = 0;
  const uint64_t limit = neg ? static_cast<uint64_t>(INT64_MAX) + 1 : static_cast<uint64_t>(INT64_MAX);
  for (; i < end; ++i) {
    char c = v.p[i];
    if (c < '0' || c > '9') return false;  // fraction or exponent: not an integer
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (acc > (limit - digit) / 10) return false;
    acc = acc * 10 + digit;
  }
  if (neg) {
    *out = acc == static_cast<uint64_t>(INT64_MAX) + 1 ? INT64_MIN : -static_cast<int64_t>(acc);
  } else {
    *out = static_cast<int64_t>(acc);
  }
  return true;
}

bool get_bool(Span v, bool* out) {
  Kind k = kind_of(v);
  if (k != Kind::True && k != Kind::False) return false;
  *out = k == Kind::True;
  return true;
}

}  // namespace json
}  // namespace hxtp
