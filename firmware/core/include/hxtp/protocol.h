// The HxTP wire protocol pieces the device needs (shared/spec/hxtp-wire-protocol.md): frames (§2.3),
// the 10-field HxTP/3.1 signing string with escaping (§5.1), the bootstrap signing string (§5.4),
// payload hashes (§4) and the reasons a message is refused (§8).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hxtp/crypto.h"
#include "hxtp/text.h"

namespace hxtp {

constexpr const char* kVersion = "HxTP/3.1";
// The wire profile of this firmware, announced in `hello` (params.profile). Same framing, version
// and 10-field HMAC signing string as `hxtp-3.1`; the difference is the payload hash: the device
// checks sha256 over the exact params text it received, bound to the command's action
// (`bound_payload_hash`), and refuses a command or ota message without one.
constexpr const char* kProfile = "hxtp-3.1-bound";
constexpr size_t kFrameHeader = 8;
constexpr uint32_t kMaxBody = 16384;
constexpr uint8_t kFramerVersion = 3;

enum class FrameType : uint8_t {
  State = 1,
  Command = 2,
  Ack = 3,
  Heartbeat = 4,
  Telemetry = 5,
  Ota = 6,
  Error = 7,
  Hello = 8,
};

enum class Reason : uint8_t {
  Ok = 0,
  FrameTooShort,
  FrameMagicInvalid,
  FrameVersionInvalid,
  FrameTypeInvalid,
  FrameLengthInvalid,
  JsonInvalid,
  FieldInvalid,
  MessageTypeInvalid,
  VersionMismatch,
  TimestampExpired,
  TimestampFuture,
  PayloadTooLarge,
  NonceMissing,
  NonceReused,
  HashMissing,
  HashMismatch,
  SequenceViolation,
  SignatureMissing,
  SignatureInvalid,
  DeviceMismatch,
  CommandInvalid,
  CapabilityNotRegistered,
  HandlerFailed,
  BufferOverflow,
  NotConfigured,
};

// "NONCE_REUSED" etc.
const char* reason_code(Reason r);
// The error text of a failed ack / log line: "NONCE_REUSED: replay attack detected", ...
const char* reason_text(Reason r);

const char* frame_channel(FrameType t);  // topic channel a device publishes this type on
const char* frame_message_type(FrameType t);

// Writes the 8-byte header for a body of `len` bytes.
void encode_frame_header(FrameType type, uint32_t len, uint8_t out[kFrameHeader]);
// Checks in the firmware's order; bytes after the declared length are ignored.
Reason decode_frame(const uint8_t* data, size_t size, FrameType* type, Span* body);

// The fields of the 10-field signing string (spec §5.1). Numbers are written in decimal.
struct SigningFields {
  Span version, device_id, client_id, message_id, request_id;
  int64_t sequence_number = 0;
  int64_t timestamp = 0;
  Span nonce, message_type, payload_hash;
};

// version|device_id|client_id|message_id|request_id|sequence_number|timestamp|nonce|message_type|payload_hash
// with every text field escaped. False on overflow.
bool signing_string(const SigningFields& f, Writer& out);
// {version}|bootstrap|{device_id}|{tenant_id}|{timestamp_ms}|{message_id}|{nonce}, unescaped (§5.4).
bool bootstrap_signing_string(Span version, Span device_id, Span tenant_id, int64_t timestamp_ms,
                              Span message_id, Span nonce, Writer& out);

// The same shape for the device's other signed HTTP requests: {version}|{purpose}|{device_id}|
// {tenant_id}|{timestamp_ms}|{message_id}|{nonce}. The OTA image download uses purpose
// "firmware_image" with the firmware id in the message_id slot.
bool request_signing_string(Span version, Span purpose, Span device_id, Span tenant_id, int64_t timestamp_ms,
                            Span message_id, Span nonce, Writer& out);

// sha256 of the exact params text when there is no action; sha256(action "|" params text) when the
// message carries one, so a rewritten action fails the check like rewritten params. 64 hex + NUL.
void bound_payload_hash(Crypto& crypto, Span action, Span params_text, char out[65]);
// sha256 of the exact text, 64 lowercase hex + NUL (what device messages carry, §3.2).
void payload_hash(Crypto& crypto, Span params_text, char out[65]);
// HMAC-SHA256 of text with the 32-byte key, 64 lowercase hex + NUL.
void hmac_hex(Crypto& crypto, const uint8_t key[32], Span text, char out[65]);

}  // namespace hxtp
