#include "hxtp/light.h"

#include "hxtp/json.h"

namespace hxtp {

bool Light::attach(Device& device) {
  return device.register_capability(1, "light_on", light_on, this) &&
         device.register_capability(2, "light_off", light_off, this) &&
         device.register_capability(3, "light_brightness", light_brightness, this) &&
         device.register_capability(13, "ping", ping, this) && device.register_capability(14, "status", status, this);
}

Span Light::state_json(char* out, size_t cap) const {
  Writer w(out, cap);
  w.str("{\"brightness\":");
  w.i64(brightness_);
  w.str(on_ ? ",\"on\":true}" : ",\"on\":false}");
  return w.span();
}

void Light::set(bool on, int brightness) {
  on_ = on;
  brightness_ = brightness;
  changed_ = true;
  if (apply_ != nullptr) apply_(ctx_, on_, brightness_);
}

bool Light::light_on(void* ctx, Span, Writer&) {
  auto* self = static_cast<Light*>(ctx);
  self->set(true, self->brightness_);
  return true;
}

bool Light::light_off(void* ctx, Span, Writer&) {
  auto* self = static_cast<Light*>(ctx);
  self->set(false, self->brightness_);
  return true;
}

bool Light::light_brightness(void* ctx, Span params, Writer& error) {
  auto* self = static_cast<Light*>(ctx);
  Span v;
  int64_t value = -1;
  if (!json::get(params, "brightness", &v)) {
    error.str("Missing 'brightness' parameter");
    return false;
  }
  // The server coerces CLI strings to integers; a quoted number is accepted here too.
  char text[24];
  if (json::kind_of(v) == json::Kind::String && json::get_string(v, text, sizeof text)) {
    if (!json::get_int64(Span::of(text), &value)) value = -1;
  } else if (!json::get_int64(v, &value)) {
    value = -1;
  }
  if (value < 0 || value > 100) {
    error.str("'brightness' must be an integer from 0 to 100");
    return false;
  }
  self->set(value > 0, static_cast<int>(value));
  return true;
}

bool Light::ping(void*, Span, Writer&) { return true; }

bool Light::status(void* ctx, Span, Writer&) {
  static_cast<Light*>(ctx)->changed_ = true;  // answer with a state report
  return true;
}

}  // namespace hxtp
