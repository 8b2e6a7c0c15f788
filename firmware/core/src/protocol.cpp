#include "hxtp/protocol.h"

namespace hxtp {

const char* reason_code(Reason r) {
  switch (r) {
    case Reason::Ok: return "OK";
    case Reason::FrameTooShort: return "FRAME_TOO_SHORT";
    case Reason::FrameMagicInvalid: return "FRAME_MAGIC_INVALID";
    case Reason::FrameVersionInvalid: return "FRAME_VERSION_INVALID";
    case Reason::FrameTypeInvalid: return "FRAME_TYPE_INVALID";
    case Reason::FrameLengthInvalid: return "FRAME_LENGTH_INVALID";
    case Reason::JsonInvalid: return "JSON_PARSE_FAILED";
    case Reason::FieldInvalid: return "FIELD_INVALID";
    case Reason::MessageTypeInvalid: return "MESSAGE_TYPE_INVALID";
    case Reason::VersionMismatch: return "VERSION_MISMATCH";
    case Reason::TimestampExpired: return "TIMESTAMP_EXPIRED";
    case Reason::TimestampFuture: return "TIMESTAMP_FUTURE";
    case Reason::PayloadTooLarge: return "PAYLOAD_TOO_LARGE";
    case Reason::NonceMissing: return "NONCE_MISSING";
    case Reason::NonceReused: return "NONCE_REUSED";
    case Reason::HashMissing: return "HASH_MISSING";
    case Reason::HashMismatch: return "HASH_MISMATCH";
    case Reason::SequenceViolation: return "SEQUENCE_VIOLATION";
    case Reason::SignatureMissing: return "SIGNATURE_MISSING";
    case Reason::SignatureInvalid: return "SIGNATURE_INVALID";
    case Reason::DeviceMismatch: return "DEVICE_MISMATCH";
    case Reason::CommandInvalid: return "COMMAND_INVALID";
    case Reason::CapabilityNotRegistered: return "CAPABILITY_NOT_REGISTERED";
    case Reason::HandlerFailed: return "HANDLER_FAILED";
    case Reason::BufferOverflow: return "BUFFER_OVERFLOW";
    case Reason::NotConfigured: return "NOT_CONFIGURED";
  }
  return "UNKNOWN";
}

const char* reason_text(Reason r) {
  switch (r) {
    case Reason::VersionMismatch: return "VERSION_MISMATCH: unsupported protocol version";
    case Reason::TimestampExpired: return "TIMESTAMP_EXPIRED: message too old";
    case Reason::TimestampFuture: return "TIMESTAMP_FUTURE: clock skew exceeds limit";
    case Reason::PayloadTooLarge: return "PAYLOAD_TOO_LARGE: exceeds 16KB limit";
    case Reason::NonceMissing: return "NONCE_MISSING: nonce field is empty";
    case Reason::NonceReused: return "NONCE_REUSED: replay attack detected";
    case Reason::HashMissing: return "HASH_MISSING: payload hash required";
    case Reason::HashMismatch: return "HASH_MISMATCH: payload hash does not match";
    case Reason::JsonInvalid: return "JSON_PARSE_FAILED: could not parse message";
    case Reason::SequenceViolation: return "SEQUENCE_VIOLATION: out-of-order or duplicate sequence";
    case Reason::SignatureMissing: return "SIGNATURE_MISSING: signature field is empty";
    case Reason::SignatureInvalid: return "SIGNATURE_INVALID: HMAC verification failed";
    case Reason::CapabilityNotRegistered: return "CAPABILITY_NOT_REGISTERED";
    default: return reason_code(r);
  }
}

const char* frame_channel(FrameType t) {
  switch (t) {
    case FrameType::State: return "state";
    case FrameType::Command: return "cmd";
    case FrameType::Ack: return "cmd_ack";
    case FrameType::Heartbeat: return "heartbeat";
    case FrameType::Telemetry: return "telemetry";
    case FrameType::Ota: return "ota";
    case FrameType::Error: return "cmd_ack";
    case FrameType::Hello: return "hello";
  }
  return "state";
}

const char* frame_message_type(FrameType t) {
  switch (t) {
    case FrameType::State: return "state";
    case FrameType::Command: return "command";
    case FrameType::Ack: return "ack";
    case FrameType::Heartbeat: return "heartbeat";
    case FrameType::Telemetry: return "telemetry";
    case FrameType::Ota: return "ota";
    case FrameType::Error: return "error";
    case FrameType::Hello: return "hello";
  }
  return "state";
}

void encode_frame_header(FrameType type, uint32_t len, uint8_t out[kFrameHeader]) {
  out[0] = 0x48;
  out[1] = 0x58;
  out[2] = kFramerVersion;
  out[3] = static_cast<uint8_t>(type);
  out[4] = static_cast<uint8_t>(len >> 24);
  out[5] = static_cast<uint8_t>(len >> 16);
  out[6] = static_cast<uint8_t>(len >> 8);
  out[7] = static_cast<uint8_t>(len);
}

Reason decode_frame(const uint8_t* data, size_t size, FrameType* type, Span* body) {
  if (size < kFrameHeader) return Reason::FrameTooShort;
  if (data[0] != 0x48 || data[1] != 0x58) return Reason::FrameMagicInvalid;
  if (data[2] != kFramerVersion) return Reason::FrameVersionInvalid;
  if (data[3] < 1 || data[3] > 8) return Reason::FrameTypeInvalid;
  uint32_t len = (static_cast<uint32_t>(data[4]) << 24) | (static_cast<uint32_t>(data[5]) << 16) |
                 (static_cast<uint32_t>(data[6]) << 8) | data[7];
  if (len > kMaxBody) return Reason::FrameLengthInvalid;
  if (size - kFrameHeader < len) return Reason::FrameTooShort;
  *type = static_cast<FrameType>(data[3]);
  *body = Span(reinterpret_cast<const char*>(data + kFrameHeader), len);
  return Reason::Ok;
}

bool signing_string(const SigningFields& f, Writer& out) {
  out.pipe_escaped(f.version);
  out.put('|');
  out.pipe_escaped(f.device_id);
  out.put('|');
  out.pipe_escaped(f.client_id);
  out.put('|');
  out.pipe_escaped(f.message_id);
  out.put('|');
  out.pipe_escaped(f.request_id);
  out.put('|');
  out.i64(f.sequence_number);
  out.put('|');
  out.i64(f.timestamp);
  out.put('|');
  out.pipe_escaped(f.nonce);
  out.put('|');
  out.pipe_escaped(f.message_type);
  out.put('|');
  out.pipe_escaped(f.payload_hash);
  return !out.overflow();
}

bool bootstrap_signing_string(Span version, Span device_id, Span tenant_id, int64_t timestamp_ms,
                              Span message_id, Span nonce, Writer& out) {
  return request_signing_string(version, Span("bootstrap", 9), device_id, tenant_id, timestamp_ms, message_id,
                                nonce, out);
}

bool request_signing_string(Span version, Span purpose, Span device_id, Span tenant_id, int64_t timestamp_ms,
                            Span message_id, Span nonce, Writer& out) {
  out.put(version);
  out.put('|');
  out.put(purpose);
  out.put('|');
  out.put(device_id);
  out.put('|');
  out.put(tenant_id);
  out.put('|');
  out.i64(timestamp_ms);
  out.put('|');
  out.put(message_id);
  out.put('|');
  out.put(nonce);
  return !out.overflow();
}

void bound_payload_hash(Crypto& crypto, Span action, Span params_text, char out[65]) {
  uint8_t digest[32];
  if (action.empty()) {
    crypto.sha256(&params_text, 1, digest);
  } else {
    Span parts[3] = {action, Span("|", 1), params_text};
    crypto.sha256(parts, 3, digest);
  }
  hex_encode(digest, 32, out);
}

void payload_hash(Crypto& crypto, Span params_text, char out[65]) {
  uint8_t digest[32];
  crypto.sha256(&params_text, 1, digest);
  hex_encode(digest, 32, out);
}

void hmac_hex(Crypto& crypto, const uint8_t key[32], Span text, char out[65]) {
  uint8_t mac[32];
  crypto.hmac_sha256(key, 32, reinterpret_cast<const uint8_t*>(text.p), text.n, mac);
  hex_encode(mac, 32, out);
}

}  // namespace hxtp
