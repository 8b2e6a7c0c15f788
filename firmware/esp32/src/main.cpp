// HxTP reference firmware for the ESP32: the board glue around firmware/core. Everything protocol-
// related (envelopes, signing, validation, acks, the light capabilities, OTA offer checks) is in the
// core; this file only connects WiFi, sets the clock, bootstraps over HTTPS, runs MQTT over TLS,
// keeps the secret and the outbound sequence in NVS, drives the LED, and writes OTA images.
#include <Arduino.h>
#include <HTTPClient.h>
#include <Preferences.h>
#include <PubSubClient.h>
#include <Update.h>
#include <WiFi.h>
#include <WiFiClientSecure.h>
#include <sys/time.h>

#include "esp32_crypto.h"
#include "hxtp/device.h"
#include "hxtp/json.h"
#include "hxtp/light.h"

#if __has_include("secrets.h")
#include "secrets.h"
#define HXTP_HAS_SECRETS 1
#endif

using hxtp::Span;

namespace {

constexpr size_t kMqttBuffer = 4096;  // the server's HXTP_DEVICE_RECEIVE_BUFFER default
constexpr uint32_t kWifiTimeoutMs = 30000;
constexpr uint32_t kNtpTimeoutMs = 15000;

Preferences nvs;
Esp32Crypto crypto;
WiFiClientSecure tls;
PubSubClient mqtt(tls);

struct Stored {
  String wifi_ssid, wifi_pass, api_base, ca_cert;
  uint8_t ota_key[32] = {};
  bool has_ota_key = false;
} stored;

class BoardPlatform : public hxtp::Platform {
 public:
  int64_t now_ms() override {
    timeval tv;
    gettimeofday(&tv, nullptr);
    return static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
  }
  bool publish(const char* topic, const uint8_t* data, size_t len) override {
    return mqtt.publish(topic, data, static_cast<unsigned int>(len), false);  // QoS 0 (PubSubClient)
  }
  uint64_t load_sequence() override { return nvs.getULong64("seq_out", 0); }
  void store_sequence(uint64_t value) override { nvs.putULong64("seq_out", value); }
  void log(const char* line) override { Serial.println(line); }
} platform;

hxtp::Device device(crypto, platform);

void apply_light(void*, bool on, int brightness) {
  ledcWrite(0, on ? (brightness * 255) / 100 : 0);
}
hxtp::Light light(apply_light, nullptr);

hxtp::OtaOffer pending_offer;
bool ota_pending = false;
int heartbeat_s = 30;
char secret_hex[65] = {};
uint8_t inbound[kMqttBuffer];  // PubSubClient reuses its buffer for publishing: copy first

// ── provisioning ──────────────────────────────────────────────────────────────────────────

void provision_from_secrets() {
#ifdef HXTP_HAS_SECRETS
  if (nvs.isKey("dev_id")) return;  // written on first boot only
  uint8_t secret[32], key[32];
  if (!hxtp::hex_decode(Span::of(HXTP_DEVICE_SECRET), secret, 32)) return;
  nvs.putString("wifi_ssid", HXTP_WIFI_SSID);
  nvs.putString("wifi_pass", HXTP_WIFI_PASS);
  nvs.putString("dev_id", HXTP_DEVICE_ID);
  nvs.putString("tenant_id", HXTP_TENANT_ID);
  nvs.putBytes("secret", secret, 32);
  nvs.putString("api_base", HXTP_API_BASE_URL);
  nvs.putString("ca_cert", HXTP_CA_CERT);
  if (hxtp::hex_decode(Span::of(HXTP_OTA_PUBLIC_KEY), key, 32)) nvs.putBytes("ota_key", key, 32);
#endif
}

// Serial console: "set <key> <value>" (keys as in NVS; secret and ota_key in hex), "reboot".
void serial_console() {
  if (!Serial.available()) return;
  String line = Serial.readStringUntil('\n');
  line.trim();
  if (line == "reboot") ESP.restart();
  if (!line.startsWith("set ")) return;
  int space = line.indexOf(' ', 4);
  if (space < 0) return;
  String key = line.substring(4, space), value = line.substring(space + 1);
  if (key == "secret" || key == "ota_key") {
    uint8_t raw[32];
    if (hxtp::hex_decode(Span(value.c_str(), value.length()), raw, 32)) nvs.putBytes(key.c_str(), raw, 32);
  } else {
    value.replace("\\n", "\n");  // PEM over one console line
    nvs.putString(key.c_str(), value);
  }
  Serial.println("ok");
}

bool load_identity(hxtp::Identity& id) {
  String dev = nvs.getString("dev_id", ""), tenant = nvs.getString("tenant_id", "");
  if (dev.isEmpty() || nvs.getBytes("secret", id.secret, 32) != 32) return false;
  snprintf(id.device_id, sizeof id.device_id, "%s", dev.c_str());
  snprintf(id.tenant_id, sizeof id.tenant_id, "%s", tenant.c_str());
  snprintf(id.device_type, sizeof id.device_type, "%s", HXTP_DEVICE_TYPE);
  snprintf(id.firmware_version, sizeof id.firmware_version, "%s", HXTP_FIRMWARE_VERSION);
  hxtp::hex_encode(id.secret, 32, secret_hex);
  stored.wifi_ssid = nvs.getString("wifi_ssid", "");
  stored.wifi_pass = nvs.getString("wifi_pass", "");
  stored.api_base = nvs.getString("api_base", "");
  stored.ca_cert = nvs.getString("ca_cert", "");
  stored.has_ota_key = nvs.getBytes("ota_key", stored.ota_key, 32) == 32;
  return true;
}

// ── network ──────────────────────────────────────────────────────────────────────────────

bool connect_wifi() {
  WiFi.mode(WIFI_STA);
  WiFi.begin(stored.wifi_ssid.c_str(), stored.wifi_pass.c_str());
  uint32_t start = millis();
  while (WiFi.status() != WL_CONNECTED && millis() - start < kWifiTimeoutMs) delay(200);
  return WiFi.status() == WL_CONNECTED;
}

bool sync_clock() {
  configTime(0, 0, "pool.ntp.org", "time.google.com");
  uint32_t start = millis();
  while (time(nullptr) < 1700000000 && millis() - start < kNtpTimeoutMs) delay(200);
  return time(nullptr) >= 1700000000;  // timestamps outside the 30 s window would all be refused
}

void add_signed_headers(HTTPClient& http, const char* purpose, const char* message_id) {
  uint8_t raw[16];
  crypto.random(raw, 16);
  char nonce[25];
  hxtp::base64_encode(raw, 16, nonce);
  int64_t ts = platform.now_ms();
  char text[320], mac[65], ts_text[24];
  hxtp::Writer w(text, sizeof text);
  const hxtp::Identity& id = device.identity();
  hxtp::request_signing_string(Span::of(hxtp::kVersion), Span::of(purpose), Span::of(id.device_id),
                               Span::of(id.tenant_id), ts, Span::of(message_id), Span::of(nonce), w);
  hxtp::hmac_hex(crypto, id.secret, w.span(), mac);
  snprintf(ts_text, sizeof ts_text, "%lld", static_cast<long long>(ts));
  http.addHeader("X-HXTP-Version", hxtp::kVersion);
  http.addHeader("X-HXTP-Timestamp", ts_text);
  http.addHeader("X-HXTP-Nonce", nonce);
  http.addHeader("X-HXTP-Message-ID", message_id);
  http.addHeader("X-HXTP-Device-ID", id.device_id);
  http.addHeader("X-HXTP-Signature", mac);
}

// GET {api}/device/{id}/bootstrap -> mqtt host/port and heartbeat interval.
bool bootstrap(String& host, uint16_t& port) {
  uint8_t raw[16];
  crypto.random(raw, 16);
  char mid[37];
  hxtp::uuid_v4(raw, mid);
  HTTPClient http;
  String url = stored.api_base + "/device/" + device.identity().device_id + "/bootstrap";
  if (!http.begin(tls, url)) return false;
  add_signed_headers(http, "bootstrap", mid);
  int status = http.GET();
  String body = status == 200 ? http.getString() : String();
  http.end();
  if (status != 200) return false;
  Span doc(body.c_str(), body.length()), v;
  char endpoint[128];
  int64_t hb;
  if (!hxtp::json::get(doc, "mqtt_endpoint", &v) || !hxtp::json::get_string(v, endpoint, sizeof endpoint)) return false;
  if (hxtp::json::get(doc, "heartbeat_interval", &v) && hxtp::json::get_int64(v, &hb) && hb > 0) heartbeat_s = hb;
  String e(endpoint);
  int scheme = e.indexOf("://");
  String rest = scheme >= 0 ? e.substring(scheme + 3) : e;
  int colon = rest.lastIndexOf(':');
  host = colon >= 0 ? rest.substring(0, colon) : rest;
  port = colon >= 0 ? rest.substring(colon + 1).toInt() : 8883;
  return host.length() > 0;
}

void on_mqtt(char* topic, byte* payload, unsigned int len) {
  if (len > sizeof inbound) return;
  memcpy(inbound, payload, len);
  const char* channel = strrchr(topic, '/');
  if (channel == nullptr) return;
  device.process(channel + 1, inbound, len);
  if (light.take_changed()) {
    char state[64];
    device.send_state(light.state_json(state, sizeof state));
  }
}

bool connect_mqtt(const String& host, uint16_t port) {
  mqtt.setServer(host.c_str(), port);
  mqtt.setBufferSize(kMqttBuffer);
  mqtt.setKeepAlive(60);
  mqtt.setCallback(on_mqtt);
  String client = String("hxtp-") + device.identity().device_id;
  if (!mqtt.connect(client.c_str(), device.identity().device_id, secret_hex)) return false;
  char topic[160];
  device.topic("cmd", topic, sizeof topic);
  mqtt.subscribe(topic, 1);
  device.topic("ota", topic, sizeof topic);
  mqtt.subscribe(topic, 1);
  device.send_hello();
  char state[64];
  device.send_state(light.state_json(state, sizeof state));
  return true;
}

// ── OTA ──────────────────────────────────────────────────────────────────────────────────

void on_ota(void*, const hxtp::OtaOffer& offer) {
  pending_offer = offer;
  ota_pending = true;  // written from loop(), outside the MQTT callback
}

void run_ota() {
  ota_pending = false;
  const hxtp::OtaOffer& offer = pending_offer;
  device.send_ota_status(offer, "downloading", Span());
  if (!stored.has_ota_key) {
    device.send_ota_status(offer, "failed", Span::of("no release public key provisioned"));
    return;
  }
  HTTPClient http;
  if (!http.begin(tls, offer.url)) {
    device.send_ota_status(offer, "failed", Span::of("bad download URL"));
    return;
  }
  add_signed_headers(http, "firmware_image", offer.firmware_id);
  int status = http.GET();
  int size = http.getSize();
  if (status != 200 || size <= 0 || (offer.size > 0 && size != offer.size) || !Update.begin(size)) {
    http.end();
    device.send_ota_status(offer, "failed", Span::of("download failed"));
    return;
  }
  WiFiClient* stream = http.getStreamPtr();
  ImageHash hash;
  static uint8_t chunk[2048];
  int remaining = size;
  while (remaining > 0 && http.connected()) {
    size_t n = stream->readBytes(chunk, std::min<size_t>(sizeof chunk, remaining));
    if (n == 0) break;
    hash.update(chunk, n);
    if (Update.write(chunk, n) != n) break;
    remaining -= n;
    mqtt.loop();
  }
  http.end();
  uint8_t digest[32];
  hash.finish(digest);
  hxtp::Reason check = remaining == 0 ? device.check_image(offer, digest, stored.ota_key) : hxtp::Reason::FieldInvalid;
  if (check != hxtp::Reason::Ok) {
    Update.abort();  // the running image stays; nothing was switched
    device.send_ota_status(offer, "failed",
                           Span::of(check == hxtp::Reason::HashMismatch       ? "image sha256 does not match the offer"
                                    : check == hxtp::Reason::SignatureInvalid ? "release signature does not verify"
                                                                              : "download incomplete"));
    return;
  }
  device.send_ota_status(offer, "verified", Span());
  if (!Update.end(true)) {
    device.send_ota_status(offer, "failed", Span::of("could not finish writing the image"));
    return;
  }
  device.send_ota_status(offer, "applied", Span());
  mqtt.loop();
  delay(500);
  ESP.restart();  // the new image reports its version in its first hello
}

String mqtt_host;
uint16_t mqtt_port = 8883;
uint32_t last_beat = 0;
uint32_t backoff_ms = 1000;

}  // namespace

void setup() {
  Serial.begin(115200);
  ledcSetup(0, 5000, 8);
  ledcAttachPin(HXTP_LED_PIN, 0);
  nvs.begin("hxtp", false);
  provision_from_secrets();
  hxtp::Identity id;
  while (!load_identity(id)) {  // wait for serial provisioning
    serial_console();
    delay(100);
  }
  if (!stored.ca_cert.isEmpty()) tls.setCACert(stored.ca_cert.c_str());
  device.begin(id);
  light.attach(device);
  device.on_ota(on_ota, nullptr);
  while (!connect_wifi()) delay(backoff_ms);
  sync_clock();
  while (!bootstrap(mqtt_host, mqtt_port)) delay(5000);
}

void loop() {
  serial_console();
  if (WiFi.status() != WL_CONNECTED) {
    connect_wifi();
    sync_clock();
    bootstrap(mqtt_host, mqtt_port);
  }
  if (!mqtt.connected()) {
    if (!connect_mqtt(mqtt_host, mqtt_port)) {
      delay(backoff_ms);
      backoff_ms = std::min<uint32_t>(backoff_ms * 2, 60000);
      return;
    }
    backoff_ms = 1000;
  }
  mqtt.loop();
  if (ota_pending) run_ota();
  if (millis() - last_beat >= static_cast<uint32_t>(heartbeat_s) * 1000) {
    last_beat = millis();
    device.send_heartbeat(millis() / 1000);
  }
}
