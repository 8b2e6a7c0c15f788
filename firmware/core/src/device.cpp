#include "hxtp/device.h"

#include <cstring>

#include "hxtp/json.h"

namespace hxtp {

namespace {

// Envelope text around the params, widest case: keys and punctuation 434 bytes, client/message/
// request ids 36 each, device id 32, tenant 36, nonce 24, message_type 12, hash and signature 64 each,
// two 20-digit numbers: 602. kEnvelopeOverhead leaves a margin on top.
constexpr size_t kEnvelopeFixed = 602;
static_assert(kEnvelopeFixed <= kEnvelopeOverhead, "envelope estimate");
// The largest params the device itself writes: an ack with a 63-byte error escaped 6x and a 36-char
// reference, a heartbeat with a 20-digit uptime, an ota_status with every field at its limit.
constexpr size_t kAckParamsMax = 60 + 6 * kMaxErrorLen + 36;
constexpr size_t kHeartbeatParamsMax = 16 + 20;
constexpr size_t kOtaStatusParamsMax = 120 + 63 + 63 + 36 + 32 + 6 * kMaxErrorLen;
static_assert(kAckParamsMax <= kMaxParams, "an ack always fits its buffer");
static_assert(kHeartbeatParamsMax <= kMaxParams, "a heartbeat always fits its buffer");
static_assert(kOtaStatusParamsMax <= kMaxParams, "an ota_status always fits its buffer");

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

bool plain_id(const char* s, size_t max, bool allow_empty) {
  size_t n = std::strlen(s);
  if (n > max || (n == 0 && !allow_empty)) return false;
  for (size_t i = 0; i < n; ++i)
    if (!id_char(s[i])) return false;
  return true;
}

// A top-level string member copied into a fixed buffer; absent = "" (present = true only if found).
// False when present but not a string or too long.
bool read_string(Span obj, const char* key, char* out, size_t cap, bool* present = nullptr) {
  Span v;
  out[0] = '\0';
  if (!json::get(obj, key, &v)) {
    if (present) *present = false;
    return true;
  }
  if (present) *present = true;
  return json::get_string(v, out, cap);
}

// UTF-8-safe cut of text to at most max bytes.
Span cut_utf8(Span s, size_t max) {
  if (s.n <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s.p[n]) & 0xc0) == 0x80) --n;
  return Span(s.p, n);
}

int64_t to_seconds(int64_t t) { return t > 1000000000000LL ? t / 1000 : t; }

}  // namespace

bool Device::begin(const Identity& identity, const Options& options) {
  if (!plain_id(identity.device_id, 32, false) || !plain_id(identity.tenant_id, 36, true) ||
      !plain_id(identity.device_type, 31, false) || !plain_id(identity.firmware_version, 31, false))
    return false;
  id_ = identity;
  opt_ = options;
  uint8_t raw[16];
  crypto_.random(raw, sizeof raw);
  uuid_v4(raw, client_id_);
  // Outbound numbers continue across boots: start after the stored reservation, never reuse one.
  seq_last_ = platform_.load_sequence();
  seq_reserved_ = seq_last_;
  have_inbound_seq_ = false;
  std::memset(nonces_, 0, sizeof nonces_);
  ready_ = true;
  return true;
}

void Device::set_client_id_bytes(const uint8_t bytes[16]) { uuid_v4(bytes, client_id_); }

bool Device::register_capability(uint16_t id, const char* action, CommandHandler handler, void* ctx) {
  size_t len = std::strlen(action);
  if (cap_count_ >= kMaxCapabilities || len == 0 || len > kMaxActionLen || handler == nullptr) return false;
  for (size_t i = 0; i < cap_count_; ++i)
    if (caps_[i].id == id || std::strcmp(caps_[i].action, action) == 0) return false;
  Capability& c = caps_[cap_count_++];
  c.id = id;
  std::memcpy(c.action, action, len + 1);
  c.handler = handler;
  c.ctx = ctx;
  return true;
}

bool Device::topic(const char* channel, char* out, size_t cap) const {
  Writer w(out, cap);
  w.str("hxtp/");
  w.str(id_.tenant_id);
  w.str("/device/");
  w.str(id_.device_id);
  w.put('/');
  w.str(channel);
  return !w.overflow();
}

bool Device::nonce_seen(const char* nonce, int64_t now_ms) const {
  for (const NonceSlot& slot : nonces_) {
    if (slot.used && now_ms - slot.at_ms <= opt_.nonce_ttl_ms && std::strcmp(slot.nonce, nonce) == 0)
      return true;
  }
  return false;
}

void Device::nonce_record(const char* nonce, int64_t now_ms) {
  // A free or expired slot first; otherwise the ring's next (oldest) slot.
  NonceSlot* target = nullptr;
  for (NonceSlot& slot : nonces_) {
    if (!slot.used || now_ms - slot.at_ms > opt_.nonce_ttl_ms) {
      target = &slot;
      break;
    }
  }
  if (target == nullptr) {
    target = &nonces_[nonce_next_];
    nonce_next_ = (nonce_next_ + 1) % kNonceSlots;
  }
  std::strncpy(target->nonce, nonce, kMaxNonceLen);
  target->nonce[kMaxNonceLen] = '\0';
  target->at_ms = now_ms;
  target->used = true;
}

bool Device::next_sequence(uint64_t* out) {
  uint64_t next = seq_last_ + 1;
  if (next > seq_reserved_) {
    uint32_t block = opt_.sequence_block == 0 ? 1 : opt_.sequence_block;
    seq_reserved_ = seq_last_ + block;
    platform_.store_sequence(seq_reserved_);
  }
  *out = next;
  return true;
}

InboundResult Device::process(const char* channel, const uint8_t* payload, size_t len) {
  InboundResult result;
  auto refuse = [&](Reason r) {
    result.reason = r;
    ++rejected_;
    char line[96];
    Writer w(line, sizeof line);
    w.str("refused on ");
    w.str(channel);
    w.str(": ");
    w.str(reason_text(r));
    platform_.log(line);
    return result;
  };
  if (!ready_) return refuse(Reason::NotConfigured);

  // Frame (no ack for anything refused: see device.h).
  FrameType type;
  Span body;
  Reason r = decode_frame(payload, len, &type, &body);
  if (r != Reason::Ok) return refuse(r);
  bool on_cmd = std::strcmp(channel, "cmd") == 0;
  bool on_ota = std::strcmp(channel, "ota") == 0;
  if (!(on_cmd && type == FrameType::Command) && !(on_ota && type == FrameType::Ota))
    return refuse(Reason::FrameTypeInvalid);
  if (!json::valid(body) || json::kind_of(body) != json::Kind::Object || json::has_duplicate_keys(body))
    return refuse(Reason::JsonInvalid);

  char version[17], message_type[17], device_id[33], tenant_id[37], client_id[37], message_id[37],
      request_id[37], nonce[kMaxNonceLen + 1], hash[65], signature[129], action[kMaxActionLen + 1];
  bool has_version, has_action;
  if (!read_string(body, "version", version, sizeof version, &has_version) ||
      !read_string(body, "message_type", message_type, sizeof message_type) ||
      !read_string(body, "device_id", device_id, sizeof device_id) ||
      !read_string(body, "tenant_id", tenant_id, sizeof tenant_id) ||
      !read_string(body, "client_id", client_id, sizeof client_id) ||
      !read_string(body, "message_id", message_id, sizeof message_id) ||
      !read_string(body, "request_id", request_id, sizeof request_id) ||
      !read_string(body, "nonce", nonce, sizeof nonce) ||
      !read_string(body, "payload_hash", hash, sizeof hash) ||
      !read_string(body, "signature", signature, sizeof signature) ||
      !read_string(body, "action", action, sizeof action, &has_action))
    return refuse(Reason::FieldInvalid);
  if (!has_version && !read_string(body, "protocol_version", version, sizeof version))
    return refuse(Reason::FieldInvalid);
  if (std::strcmp(message_type, frame_message_type(type)) != 0) return refuse(Reason::MessageTypeInvalid);

  // 1. version
  if (std::strcmp(version, kVersion) != 0) return refuse(Reason::VersionMismatch);
  // 2. time window, in whole seconds on both sides
  Span v;
  int64_t timestamp;
  if (!json::get(body, "timestamp", &v) || !json::get_int64(v, &timestamp)) return refuse(Reason::FieldInvalid);
  int64_t now_ms = platform_.now_ms();
  int64_t age = to_seconds(now_ms) - to_seconds(timestamp);
  if (age > opt_.max_age_s) return refuse(Reason::TimestampExpired);
  if (-age > opt_.max_future_s) return refuse(Reason::TimestampFuture);
  // 3. size
  if (body.n > kMaxBody) return refuse(Reason::PayloadTooLarge);
  // 4. nonce: checked here, recorded only once the signature verified
  if (nonce[0] == '\0') return refuse(Reason::NonceMissing);
  if (nonce_seen(nonce, now_ms)) return refuse(Reason::NonceReused);
  // 5. payload hash over the exact params text (bound to the action)
  Span params("{}", 2);
  if (json::get(body, "params", &v)) {
    if (json::kind_of(v) != json::Kind::Object) return refuse(Reason::FieldInvalid);
    params = v;
  }
  if (hash[0] == '\0') {
    if (opt_.require_payload_hash) return refuse(Reason::HashMissing);
  } else {
    char expected[65];
    Span bound = opt_.bind_action && has_action ? Span::of(action) : Span();
    bound_payload_hash(crypto_, bound, params, expected);
    if (std::strlen(hash) != 64 ||
        !constant_time_equal(reinterpret_cast<const uint8_t*>(expected), reinterpret_cast<const uint8_t*>(hash), 64))
      return refuse(Reason::HashMismatch);
  }
  // 6. sequence: strictly increasing (gaps allowed), checked here, recorded after the signature
  int64_t sequence;
  if ((!json::get(body, "sequence_number", &v) && !json::get(body, "sequence", &v)) ||
      !json::get_int64(v, &sequence) || sequence < 0)
    return refuse(Reason::FieldInvalid);
  if (have_inbound_seq_ && sequence <= last_inbound_seq_) return refuse(Reason::SequenceViolation);
  // 7. signature: HMAC-SHA256 over the 10-field string, 64 hex (either case), constant time
  if (signature[0] == '\0') return refuse(Reason::SignatureMissing);
  uint8_t given[32];
  if (!hex_decode(Span::of(signature), given, 32)) return refuse(Reason::SignatureInvalid);
  SigningFields f;
  f.version = Span::of(version);
  f.device_id = Span::of(device_id);
  f.client_id = Span::of(client_id);
  f.message_id = Span::of(message_id);
  f.request_id = Span::of(request_id);
  f.sequence_number = sequence;
  f.timestamp = timestamp;
  f.nonce = Span::of(nonce);
  f.message_type = Span::of(message_type);
  f.payload_hash = Span::of(hash);
  Writer s(signing_, sizeof signing_);
  if (!signing_string(f, s)) return refuse(Reason::FieldInvalid);
  uint8_t mac[32];
  crypto_.hmac_sha256(id_.secret, 32, reinterpret_cast<const uint8_t*>(s.data()), s.size(), mac);
  if (!constant_time_equal(mac, given, 32)) return refuse(Reason::SignatureInvalid);
  // The envelope is authentic now: it must be addressed to us.
  if (std::strcmp(device_id, id_.device_id) != 0 || (tenant_id[0] != '\0' && std::strcmp(tenant_id, id_.tenant_id) != 0))
    return refuse(Reason::DeviceMismatch);
  nonce_record(nonce, now_ms);
  last_inbound_seq_ = sequence;
  have_inbound_seq_ = true;
  result.verified = true;

  if (type == FrameType::Ota) {
    InboundResult ota = dispatch_ota(params);
    ota.verified = true;
    return ota;
  }
  if (!has_action) {
    result.reason = Reason::CommandInvalid;  // nothing to run and nothing to answer
    return result;
  }
  Span ref = message_id[0] != '\0' ? Span::of(message_id) : Span::of(request_id);
  // ref is in a stack buffer that dispatch_command uses before returning.
  InboundResult done = dispatch_command(Span::of(action), params, ref);
  done.verified = true;
  return done;
}

InboundResult Device::dispatch_command(Span action, Span params, Span ref) {
  InboundResult result;
  char ref_copy[37];
  std::memcpy(ref_copy, ref.p, ref.n);
  ref_copy[ref.n] = '\0';
  const Capability* cap = nullptr;
  for (size_t i = 0; i < cap_count_; ++i)
    if (action.equals(caps_[i].action)) cap = &caps_[i];
  if (cap == nullptr) {
    result.reason = Reason::CapabilityNotRegistered;
    result.acked = send_ack(Span::of(ref_copy), false, Span::of(reason_text(result.reason))) == Reason::Ok;
    return result;
  }
  // The handler may reuse the params buffer region of the body; copy params first.
  if (params.n >= sizeof params_) {
    result.reason = Reason::PayloadTooLarge;
    result.acked = send_ack(Span::of(ref_copy), false, Span::of(reason_text(result.reason))) == Reason::Ok;
    return result;
  }
  std::memcpy(params_, params.p, params.n);
  params_[params.n] = '\0';
  char error[kMaxErrorLen * 2 + 1];
  Writer err(error, sizeof error);
  bool ok = cap->handler(cap->ctx, Span(params_, params.n), err);
  if (!ok) {
    result.reason = Reason::HandlerFailed;
    if (err.size() == 0) err.str("handler failed");
  }
  result.acked = send_ack(Span::of(ref_copy), ok, cut_utf8(err.span(), kMaxErrorLen)) == Reason::Ok;
  return result;
}

InboundResult Device::dispatch_ota(Span params) {
  InboundResult result;
  OtaOffer offer;
  char sha[65], sig[129];
  Span v;
  bool ok = read_string(params, "firmware_id", offer.firmware_id, sizeof offer.firmware_id) &&
            read_string(params, "rollout_id", offer.rollout_id, sizeof offer.rollout_id) &&
            read_string(params, "version", offer.version, sizeof offer.version) &&
            read_string(params, "url", offer.url, sizeof offer.url) &&
            read_string(params, "sha256", sha, sizeof sha) &&
            read_string(params, "signature", sig, sizeof sig) && offer.version[0] != '\0' &&
            offer.url[0] != '\0' && hex_decode(Span::of(sha), offer.sha256, 32) &&
            hex_decode(Span::of(sig), offer.signature, 64);
  if (ok && json::get(params, "size", &v)) ok = json::get_int64(v, &offer.size) && offer.size >= 0;
  if (!ok) {
    result.reason = Reason::FieldInvalid;
    send_ota_status(offer, "failed", Span::of("ota message is incomplete"));
    return result;
  }
  if (ota_handler_ == nullptr) {
    result.reason = Reason::CapabilityNotRegistered;
    send_ota_status(offer, "failed", Span::of("this device takes no OTA updates"));
    return result;
  }
  ota_handler_(ota_ctx_, offer);
  return result;
}

Reason Device::check_image(const OtaOffer& offer, const uint8_t digest[32], const uint8_t public_key[32]) {
  if (!constant_time_equal(digest, offer.sha256, 32)) return Reason::HashMismatch;
  if (!crypto_.ed25519_verify(public_key, digest, 32, offer.signature)) return Reason::SignatureInvalid;
  return Reason::Ok;
}

Reason Device::send(FrameType type, const char* message_type, const char* channel, Span params_json) {
  if (!ready_) return Reason::NotConfigured;
  if (params_json.n > kMaxParams || json::kind_of(params_json) != json::Kind::Object || !json::valid(params_json))
    return params_json.n > kMaxParams ? Reason::BufferOverflow : Reason::JsonInvalid;
  uint8_t raw[16];
  char message_id[37], nonce[25], hash[65], signature[65];
  crypto_.random(raw, 16);
  uuid_v4(raw, message_id);
  crypto_.random(raw, 16);
  base64_encode(raw, 16, nonce);
  payload_hash(crypto_, params_json, hash);
  int64_t now = platform_.now_ms();
  // The number is taken only now that the message will be built (the buffers are sized for it).
  uint64_t sequence;
  if (!next_sequence(&sequence)) return Reason::NotConfigured;

  SigningFields f;
  f.version = Span::of(kVersion);
  f.device_id = Span::of(id_.device_id);
  f.client_id = Span::of(client_id_);
  f.message_id = Span::of(message_id);
  f.request_id = f.message_id;
  f.sequence_number = static_cast<int64_t>(sequence);
  f.timestamp = now;
  f.nonce = Span::of(nonce);
  f.message_type = Span::of(message_type);
  f.payload_hash = Span::of(hash);
  Writer s(signing_, sizeof signing_);
  if (!signing_string(f, s)) return Reason::BufferOverflow;
  hmac_hex(crypto_, id_.secret, s.span(), signature);

  // Keys in alphabetical order, compact, as every HxTP firmware writes them (spec §3.2).
  Writer w(body_, sizeof body_);
  w.str("{\"client_id\":");
  w.json_string(Span::of(client_id_));
  w.str(",\"device_id\":");
  w.json_string(Span::of(id_.device_id));
  w.str(",\"message_id\":");
  w.json_string(Span::of(message_id));
  w.str(",\"message_type\":");
  w.json_string(Span::of(message_type));
  w.str(",\"nonce\":");
  w.json_string(Span::of(nonce));
  w.str(",\"params\":");
  w.put(params_json);
  w.str(",\"payload_hash\":");
  w.json_string(Span::of(hash));
  w.str(",\"protocol\":\"hxtp/3.0\",\"request_id\":");
  w.json_string(Span::of(message_id));
  w.str(",\"sequence_number\":");
  w.u64(sequence);
  w.str(",\"signature\":");
  w.json_string(Span::of(signature));
  w.str(",\"tenant_id\":");
  w.json_string(Span::of(id_.tenant_id));
  w.str(",\"timestamp\":");
  w.i64(now);
  w.str(",\"version\":");
  w.json_string(Span::of(kVersion));
  w.put('}');
  if (w.overflow()) return Reason::BufferOverflow;
  seq_last_ = sequence;
  body_len_ = w.size();
  encode_frame_header(type, static_cast<uint32_t>(body_len_), frame_);
  std::memcpy(frame_ + kFrameHeader, body_, body_len_);
  if (!topic(channel, topic_, sizeof topic_)) return Reason::BufferOverflow;
  return platform_.publish(topic_, frame_, kFrameHeader + body_len_) ? Reason::Ok : Reason::NotConfigured;
}

Reason Device::send_hello() {
  char params[160];
  Writer w(params, sizeof params);
  w.str("{\"device_type\":");
  w.json_string(Span::of(id_.device_type));
  w.str(",\"firmware_version\":");
  w.json_string(Span::of(id_.firmware_version));
  if (opt_.announce_profile) {
    w.str(",\"profile\":");
    w.json_string(Span::of(kProfile));
  }
  w.put('}');
  if (w.overflow()) return Reason::BufferOverflow;
  return send(FrameType::Hello, "hello", "hello", w.span());
}

Reason Device::send_state(Span params_json) { return send(FrameType::State, "state", "state", params_json); }

Reason Device::send_telemetry(Span params_json) {
  return send(FrameType::Telemetry, "telemetry", "telemetry", params_json);
}

Reason Device::send_heartbeat(uint64_t uptime_s) {
  char params[kHeartbeatParamsMax + 1];
  Writer w(params, sizeof params);
  w.str("{\"uptime_s\":");
  w.u64(uptime_s);
  w.put('}');
  return send(FrameType::Heartbeat, "heartbeat", "heartbeat", w.span());
}

Reason Device::send_ack(Span ref_message_id, bool ok, Span error) {
  char params[kAckParamsMax + 1];
  Writer w(params, sizeof params);
  w.str("{\"ack_status\":");
  w.str(ok ? "\"executed\"" : "\"failed\"");
  if (!ok) {
    w.str(",\"error\":");
    w.json_string(cut_utf8(error, kMaxErrorLen));
  }
  w.str(",\"ref_message_id\":");
  w.json_string(cut_utf8(ref_message_id, 36));
  w.put('}');
  if (w.overflow()) return Reason::BufferOverflow;
  return send(FrameType::Ack, "ack", "cmd_ack", w.span());
}

Reason Device::send_ota_status(const OtaOffer& offer, const char* status, Span reason) {
  char params[kOtaStatusParamsMax + 1];
  Writer w(params, sizeof params);
  w.str("{\"firmware_id\":");
  w.json_string(cut_utf8(Span::of(offer.firmware_id), 63));
  if (reason.n > 0) {
    w.str(",\"reason\":");
    w.json_string(cut_utf8(reason, kMaxErrorLen));
  }
  w.str(",\"rollout_id\":");
  w.json_string(cut_utf8(Span::of(offer.rollout_id), 63));
  w.str(",\"status\":");
  w.json_string(cut_utf8(Span::of(status), 16));
  w.str(",\"version\":");
  w.json_string(cut_utf8(Span::of(offer.version), 32));
  w.put('}');
  if (w.overflow()) return Reason::BufferOverflow;
  // Framed as an ota message (type 0x06) on its own channel; the server reads message_type.
  return send(FrameType::Ota, "ota_status", "ota_status", w.span());
}

}  // namespace hxtp
