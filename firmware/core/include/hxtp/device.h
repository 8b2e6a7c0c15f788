// The device side of HxTP: validates what the cloud sends (spec §8, in its order), dispatches
// commands to registered capability handlers, hands verified OTA offers to the platform, and builds
// every outbound message (hello, state, telemetry, heartbeat, ack, ota_status).
//
// Differences from the public hxtp-micro firmware (spec §0, §4.3, §7, §9.6, §10.2), on purpose:
//  * The payload hash is checked over the exact params text received, bound to the action
//    (protocol.h bound_payload_hash), and required on commands and ota messages: a command whose
//    action or params were rewritten on the broker is refused.
//  * The nonce and the sequence number are recorded only after the signature verified: a forged
//    copy that arrives first neither burns the genuine message's nonce nor moves the sequence.
//  * No ack is sent for a refused message. Its ids are not authenticated (a forged copy carries the
//    genuine command's message_id), so a "failed" ack would let anyone on the broker fail a real
//    command; the server expires what was never acknowledged.
//  * Handler error texts are JSON-escaped (and cut at 63 bytes on a UTF-8 boundary): acks are
//    always valid JSON.
//  * Every outbound message is built in one buffer sized for the largest envelope (static_assert),
//    so heartbeats and acks always fit; a sequence number is used up only by a message that was built.
//
// No heap allocation: every buffer is a member of Device, sized at compile time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hxtp/crypto.h"
#include "hxtp/protocol.h"
#include "hxtp/text.h"

namespace hxtp {

constexpr size_t kMaxCapabilities = 16;
constexpr size_t kMaxActionLen = 31;
constexpr size_t kMaxErrorLen = 63;
constexpr size_t kNonceSlots = 64;
constexpr size_t kMaxNonceLen = 48;
constexpr size_t kOutBody = 1536;  // JSON body of one outbound message
constexpr size_t kSigningMax = 720;
// Widest envelope around the params: every id at its limit, 20-digit numbers (see device.cpp).
constexpr size_t kEnvelopeOverhead = 620;
constexpr size_t kMaxParams = kOutBody - kEnvelopeOverhead;

// What the device is and holds.
struct Identity {
  char device_id[33] = {};
  char tenant_id[37] = {};
  uint8_t secret[32] = {};
  char device_type[32] = "light";
  char firmware_version[32] = "0.0.0";
};

struct Options {
  int max_age_s = 30;
  int max_future_s = 5;
  int64_t nonce_ttl_ms = 60000;
  bool require_payload_hash = true;  // refuse commands/ota without a payload hash
  bool bind_action = true;           // the command's action is part of the hashed text
  bool announce_profile = true;      // hello carries "profile":"hxtp-3.1-bound"
  uint32_t sequence_block = 32;      // outbound numbers reserved per storage write (flash wear)
};

// What the device needs from the board it runs on.
class Platform {
 public:
  virtual ~Platform() = default;
  virtual int64_t now_ms() = 0;  // wall clock, epoch milliseconds
  virtual bool publish(const char* topic, const uint8_t* data, size_t len) = 0;
  // The outbound sequence reservation survives reboots: load() returns the last stored value (0 on
  // a fresh device); store() must be durable before it returns.
  virtual uint64_t load_sequence() = 0;
  virtual void store_sequence(uint64_t value) = 0;
  virtual void log(const char* line) { (void)line; }
};

// A capability handler: true on success; on failure it writes a human-readable error into `error`.
// `params` is the verified params object text.
using CommandHandler = bool (*)(void* ctx, Span params, Writer& error);

// A verified `ota` message (server -> device). The platform downloads the image later, checks it with
// Device::check_image, and reports progress with Device::send_ota_status.
struct OtaOffer {
  char firmware_id[64] = {};
  char rollout_id[64] = {};
  char version[33] = {};
  char url[257] = {};
  uint8_t sha256[32] = {};
  uint8_t signature[64] = {};
  int64_t size = 0;
};
using OtaHandler = void (*)(void* ctx, const OtaOffer& offer);

struct InboundResult {
  Reason reason = Reason::Ok;   // Ok: executed (or OTA accepted); else why it was refused / failed
  bool verified = false;        // the signature verified and the message was fresh
  bool acked = false;           // an ack was published for it
};

class Device {
 public:
  Device(Crypto& crypto, Platform& platform) : crypto_(crypto), platform_(platform) {}

  // False when an id holds characters outside [A-Za-z0-9._-] or is too long.
  bool begin(const Identity& identity, const Options& options = Options());
  bool register_capability(uint16_t id, const char* action, CommandHandler handler, void* ctx);
  void on_ota(OtaHandler handler, void* ctx) {
    ota_handler_ = handler;
    ota_ctx_ = ctx;
  }

  // One MQTT message received on `channel` ("cmd" or "ota").
  InboundResult process(const char* channel, const uint8_t* payload, size_t len);

  Reason send_hello();
  Reason send_state(Span params_json);
  Reason send_telemetry(Span params_json);
  Reason send_heartbeat(uint64_t uptime_s);
  Reason send_ack(Span ref_message_id, bool ok, Span error);
  // status: downloading | verified | applied | failed (reason then says why).
  Reason send_ota_status(const OtaOffer& offer, const char* status, Span reason);
  // Any message type with the given params object text.
  Reason send(FrameType type, const char* message_type, const char* channel, Span params_json);

  // sha256 + Ed25519 over the raw digest (how the server signs releases) against `public_key`.
  // Returns Ok, HashMismatch or SignatureInvalid.
  Reason check_image(const OtaOffer& offer, const uint8_t digest[32], const uint8_t public_key[32]);

  // The full topic hxtp/{tenant}/device/{device}/{channel}.
  bool topic(const char* channel, char* out, size_t cap) const;
  const char* client_id() const { return client_id_; }
  const Identity& identity() const { return id_; }
  uint32_t rejected() const { return rejected_; }
  // The last message built (header + JSON), for tests and logging.
  Span last_body() const { return Span(body_, body_len_); }

  // Tests: replace the random client id (16 bytes) chosen in begin().
  void set_client_id_bytes(const uint8_t bytes[16]);

 private:
  struct Capability {
    uint16_t id;
    char action[kMaxActionLen + 1];
    CommandHandler handler;
    void* ctx;
  };
  struct NonceSlot {
    char nonce[kMaxNonceLen + 1];
    int64_t at_ms;
    bool used;
  };

  bool nonce_seen(const char* nonce, int64_t now_ms) const;
  void nonce_record(const char* nonce, int64_t now_ms);
  bool next_sequence(uint64_t* out);
  InboundResult dispatch_command(Span action, Span params, Span ref);
  InboundResult dispatch_ota(Span params);

  Crypto& crypto_;
  Platform& platform_;
  Identity id_;
  Options opt_;
  bool ready_ = false;
  char client_id_[37] = {};

  Capability caps_[kMaxCapabilities] = {};
  size_t cap_count_ = 0;
  OtaHandler ota_handler_ = nullptr;
  void* ota_ctx_ = nullptr;

  NonceSlot nonces_[kNonceSlots] = {};
  size_t nonce_next_ = 0;
  bool have_inbound_seq_ = false;
  int64_t last_inbound_seq_ = 0;

  uint64_t seq_last_ = 0;      // last outbound number used
  uint64_t seq_reserved_ = 0;  // numbers up to this are reserved in storage
  uint32_t rejected_ = 0;

  char signing_[kSigningMax] = {};
  char body_[kOutBody] = {};
  size_t body_len_ = 0;
  uint8_t frame_[kFrameHeader + kOutBody] = {};
  char topic_[160] = {};
  char params_[kMaxParams] = {};
};

}  // namespace hxtp
