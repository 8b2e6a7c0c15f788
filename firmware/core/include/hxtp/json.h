// A strict, non-allocating JSON reader over a byte span: values are located, not copied.
// Used for the envelope (top-level members only), for handler params, and by the host tests.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hxtp/text.h"

namespace hxtp {
namespace json {

constexpr int kMaxDepth = 16;

enum class Kind { Invalid, Object, Array, String, Number, True, False, Null };

// Kind of the value starting at v.p (after leading whitespace), without validating it.
Kind kind_of(Span v);
// True when `text` is exactly one valid JSON value (whitespace around allowed), depth <= kMaxDepth.
bool valid(Span text);
// The span of one JSON value starting at text[pos] (leading whitespace skipped); end = index after it.
bool value_at(Span text, size_t pos, Span* value, size_t* end);

// Iterates the members of an object or the elements of an array (the value must be valid).
class Iter {
 public:
  explicit Iter(Span container);
  // Object members: raw key (with quotes) and value spans.
  bool next_member(Span* key, Span* value);
  bool next_element(Span* value);

 private:
  Span s_;
  size_t pos_ = 0;
  bool ok_ = false;
};

// Member `key` of the object `obj` (unescaped key comparison); false when absent. The first
// occurrence is returned; `has_duplicate_keys` tells whether any key appears twice.
bool get(Span obj, const char* key, Span* value);
bool has_duplicate_keys(Span obj);

// Decodes a JSON string value (with quotes) into out (UTF-8, NUL terminated); \uXXXX (and
// surrogate pairs) become UTF-8. False when not a string, malformed, or longer than cap-1 bytes.
bool get_string(Span v, char* out, size_t cap, size_t* len = nullptr);
// An integer JSON number (no fraction or exponent) that fits int64.
bool get_int64(Span v, int64_t* out);
bool get_bool(Span v, bool* out);

}  // namespace json
}  // namespace hxtp
