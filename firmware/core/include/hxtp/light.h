// The server's `light` category (server/domain/catalog/capabilities.py) as capability handlers:
// light_on (1), light_off (2), light_brightness (3, {"brightness": 0..100}), plus the basic ping (13)
// and status (14). The board applies the state through `apply` (a GPIO/PWM on the ESP32, a log line
// on the host); after every command the device reports its state.
#pragma once

#include <cstdint>

#include "hxtp/device.h"

namespace hxtp {

class Light {
 public:
  using Apply = void (*)(void* ctx, bool on, int brightness);

  Light(Apply apply = nullptr, void* ctx = nullptr) : apply_(apply), ctx_(ctx) {}
  bool attach(Device& device);  // registers the five handlers
  bool on() const { return on_; }
  int brightness() const { return brightness_; }
  // {"brightness":N,"on":true|false}
  Span state_json(char* out, size_t cap) const;
  // Publishes the state when a command changed it (call after Device::process).
  bool take_changed() {
    bool changed = changed_;
    changed_ = false;
    return changed;
  }

 private:
  static bool light_on(void* ctx, Span params, Writer& error);
  static bool light_off(void* ctx, Span params, Writer& error);
  static bool light_brightness(void* ctx, Span params, Writer& error);
  static bool ping(void* ctx, Span params, Writer& error);
  static bool status(void* ctx, Span params, Writer& error);
  void set(bool on, int brightness);

  Apply apply_;
  void* ctx_;
  bool on_ = false;
  int brightness_ = 100;
  bool changed_ = false;
};

}  // namespace hxtp
