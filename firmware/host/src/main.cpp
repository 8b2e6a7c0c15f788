// hxtp-device: the firmware core running as a real device process on the host.
//
//   hxtp-device --device-id ID --tenant-id T --secret HEX --server http://host:port/api/v1
//               [--state-dir DIR] [--firmware-version V] [--ota-public-key HEX] [--broker mqtt://h:p]
//
// Every option also reads an environment variable: HXTP_DEVICE_ID, HXTP_TENANT_ID, HXTP_DEVICE_SECRET,
// HXTP_SERVER_URL, HXTP_STATE_DIR, HXTP_FIRMWARE_VERSION, HXTP_OTA_PUBLIC_KEY, HXTP_BROKER_URL.
// It bootstraps (GET /device/{id}/bootstrap with the X-HXTP-* headers), connects to the broker the
// answer names (username = device id, password = secret; mqtts:// uses TLS), subscribes to cmd and
// ota, sends hello, runs the `light` capabilities, acks, reports state, and sends heartbeats. An
// OTA offer is downloaded (GET /firmware/{id}/image, signed headers), checked (sha256 and the
// Ed25519 release signature), written to <state-dir>/firmware.bin and reported; the device then
// "reboots" into the new version and says so in its next hello.
// Lines on stdout ("ready", "state ...", "ota ...") let tests follow it.
#include <mosquitto.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "http.h"
#include "hxtp/device.h"
#include "hxtp/json.h"
#include "hxtp/light.h"
#include "openssl_crypto.h"

using hxtp::Span;

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

bool write_file_atomically(const std::string& path, const std::string& data) {
  std::string tmp = path + ".part";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return false;
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    f.flush();
    if (!f) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

struct Settings {
  std::string device_id, tenant_id, secret, server, state_dir = ".", firmware_version = "1.0.0",
                                                    ota_public_key, broker, device_type = "light";
};

class HostPlatform : public hxtp::Platform {
 public:
  mosquitto* mosq = nullptr;
  std::string seq_path;

  int64_t now_ms() override { return wall_ms(); }
  bool publish(const char* topic, const uint8_t* data, size_t len) override {
    // QoS 1 here (libmosquitto can); the firmware's PubSubClient publishes QoS 0.
    return mosq != nullptr &&
           mosquitto_publish(mosq, nullptr, topic, static_cast<int>(len), data, 1, false) == MOSQ_ERR_SUCCESS;
  }
  uint64_t load_sequence() override { return std::strtoull(trim(read_file(seq_path)).c_str(), nullptr, 10); }
  void store_sequence(uint64_t value) override { write_file_atomically(seq_path, std::to_string(value) + "\n"); }
  void log(const char* line) override { std::printf("log %s\n", line); std::fflush(stdout); }
};

struct App {
  Settings settings;
  hxtp_host::OpenSslCrypto crypto;
  HostPlatform platform;
  hxtp::Device device{crypto, platform};
  hxtp::Light light;
  bool pending_ota = false;
  hxtp::OtaOffer offer;
  bool connected = false;
  int heartbeat_s = 30;
};

App* g_app = nullptr;

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::vector<std::pair<std::string, std::string>> signed_headers(App& app, const char* purpose,
                                                                const std::string& message_id) {
  uint8_t raw[16];
  app.crypto.random(raw, 16);
  char nonce[25];
  hxtp::base64_encode(raw, 16, nonce);
  int64_t ts = wall_ms();
  char buf[512];
  hxtp::Writer w(buf, sizeof buf);
  const hxtp::Identity& id = app.device.identity();
  hxtp::request_signing_string(Span::of(hxtp::kVersion), Span::of(purpose), Span::of(id.device_id),
                               Span::of(id.tenant_id), ts, Span(message_id.data(), message_id.size()),
                               Span::of(nonce), w);
  char mac[65];
  hxtp::hmac_hex(app.crypto, id.secret, w.span(), mac);
  return {{"X-HXTP-Version", hxtp::kVersion},   {"X-HXTP-Timestamp", std::to_string(ts)},
          {"X-HXTP-Nonce", nonce},             {"X-HXTP-Message-ID", message_id},
          {"X-HXTP-Device-ID", id.device_id},   {"X-HXTP-Signature", mac}};
}

bool bootstrap(App& app, std::string* endpoint) {
  uint8_t raw[16];
  app.crypto.random(raw, 16);
  char mid[37];
  hxtp::uuid_v4(raw, mid);
  std::string url = app.settings.server + "/device/" + app.settings.device_id + "/bootstrap";
  hxtp_host::HttpResponse r = hxtp_host::http_get(url, signed_headers(app, "bootstrap", mid));
  if (r.status != 200) {
    say("log bootstrap failed: HTTP " + std::to_string(r.status) + " " + r.error + " " + r.body.substr(0, 200));
    return false;
  }
  Span body(r.body.data(), r.body.size());
  Span v;
  char text[128];
  if (hxtp::json::get(body, "mqtt_endpoint", &v) && hxtp::json::get_string(v, text, sizeof text)) *endpoint = text;
  int64_t hb;
  if (hxtp::json::get(body, "heartbeat_interval", &v) && hxtp::json::get_int64(v, &hb) && hb > 0)
    app.heartbeat_s = static_cast<int>(hb);
  return !endpoint->empty();
}

void publish_state(App& app) {
  char state[64];
  Span s = app.light.state_json(state, sizeof state);
  if (app.device.send_state(s) == hxtp::Reason::Ok) say("state " + std::string(s.p, s.n));
}

void on_message(mosquitto*, void*, const mosquitto_message* msg) {
  App& app = *g_app;
  std::string topic = msg->topic;
  std::string channel = topic.substr(topic.rfind('/') + 1);
  hxtp::InboundResult r =
      app.device.process(channel.c_str(), static_cast<const uint8_t*>(msg->payload), static_cast<size_t>(msg->payloadlen));
  say(std::string("inbound ") + channel + " " + hxtp::reason_code(r.reason) + (r.acked ? " acked" : ""));
  if (app.light.take_changed()) publish_state(app);
}

void on_ota(void* ctx, const hxtp::OtaOffer& offer) {
  App& app = *static_cast<App*>(ctx);
  app.offer = offer;
  app.pending_ota = true;  // downloaded from the main loop, not inside the MQTT callback
}

void on_connect(mosquitto* mosq, void*, int rc) {
  App& app = *g_app;
  if (rc != 0) {
    say("log broker refused the connection: " + std::to_string(rc));
    return;
  }
  char topic[160];
  app.device.topic("cmd", topic, sizeof topic);
  mosquitto_subscribe(mosq, nullptr, topic, 1);
  app.device.topic("ota", topic, sizeof topic);
  mosquitto_subscribe(mosq, nullptr, topic, 1);
}

void on_subscribe(mosquitto*, void*, int, int, const int*) {
  App& app = *g_app;
  static int subscribed = 0;
  if (++subscribed % 2 != 0) return;  // both cmd and ota granted
  app.connected = true;
  app.device.send_hello();
  publish_state(app);
  say("ready " + std::string(app.device.identity().firmware_version));
}

std::string arg_or_env(std::map<std::string, std::string>& args, const char* name, const char* env,
                       const std::string& fallback = "") {
  if (args.count(name)) return args[name];
  const char* value = std::getenv(env);
  return value != nullptr ? value : fallback;
}

// The image of one offer: download, check, "flash", reboot into it.
void run_ota(App& app) {
  app.pending_ota = false;
  hxtp::OtaOffer offer = app.offer;
  say(std::string("ota downloading ") + offer.version);
  app.device.send_ota_status(offer, "downloading", Span());
  uint8_t key[32];
  if (!hxtp::hex_decode(Span(app.settings.ota_public_key.data(), app.settings.ota_public_key.size()), key, 32)) {
    app.device.send_ota_status(offer, "failed", Span::of("no release public key configured"));
    say("ota failed no-key");
    return;
  }
  hxtp_host::HttpResponse r = hxtp_host::http_get(offer.url, signed_headers(app, "firmware_image", offer.firmware_id), 60);
  if (r.status != 200) {
    std::string reason = "download failed: HTTP " + std::to_string(r.status);
    app.device.send_ota_status(offer, "failed", Span(reason.data(), reason.size()));
    say("ota failed " + reason);
    return;
  }
  hxtp_host::Sha256Stream sha;
  sha.update(r.body.data(), r.body.size());
  uint8_t digest[32];
  sha.finish(digest);
  hxtp::Reason check = app.device.check_image(offer, digest, key);
  if (check != hxtp::Reason::Ok || (offer.size > 0 && static_cast<int64_t>(r.body.size()) != offer.size)) {
    const char* reason = check == hxtp::Reason::HashMismatch   ? "image sha256 does not match the offer"
                         : check == hxtp::Reason::SignatureInvalid ? "release signature does not verify"
                                                                   : "image size does not match the offer";
    app.device.send_ota_status(offer, "failed", Span::of(reason));
    say(std::string("ota failed ") + hxtp::reason_code(check == hxtp::Reason::Ok ? hxtp::Reason::FieldInvalid : check));
    return;
  }
  app.device.send_ota_status(offer, "verified", Span());
  std::string dir = app.settings.state_dir;
  if (!write_file_atomically(dir + "/firmware.bin", r.body) ||
      !write_file_atomically(dir + "/firmware_version", std::string(offer.version) + "\n")) {
    app.device.send_ota_status(offer, "failed", Span::of("could not write the image"));
    say("ota failed write");
    return;
  }
  app.device.send_ota_status(offer, "applied", Span());
  say(std::string("ota applied ") + offer.version);
  // "Reboot": the new version runs from here on; the next hello reports it.
  hxtp::Identity id = app.device.identity();
  std::snprintf(id.firmware_version, sizeof id.firmware_version, "%s", offer.version);
  app.device.begin(id);
  app.device.send_hello();
  say(std::string("ready ") + offer.version);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int k = 1; k + 1 < argc; k += 2) {
    if (std::strncmp(argv[k], "--", 2) != 0) {
      std::fprintf(stderr, "unexpected argument %s\n", argv[k]);
      return 2;
    }
    args[argv[k] + 2] = argv[k + 1];
  }
  App app;
  g_app = &app;
  Settings& s = app.settings;
  s.device_id = arg_or_env(args, "device-id", "HXTP_DEVICE_ID");
  s.tenant_id = arg_or_env(args, "tenant-id", "HXTP_TENANT_ID");
  s.secret = arg_or_env(args, "secret", "HXTP_DEVICE_SECRET");
  s.server = arg_or_env(args, "server", "HXTP_SERVER_URL");
  s.state_dir = arg_or_env(args, "state-dir", "HXTP_STATE_DIR", ".");
  s.ota_public_key = arg_or_env(args, "ota-public-key", "HXTP_OTA_PUBLIC_KEY");
  s.broker = arg_or_env(args, "broker", "HXTP_BROKER_URL");
  while (!s.server.empty() && s.server.back() == '/') s.server.pop_back();
  mkdir(s.state_dir.c_str(), 0700);
  // The installed image's version wins over the one given at start (it is what "runs").
  std::string installed = trim(read_file(s.state_dir + "/firmware_version"));
  s.firmware_version = !installed.empty() ? installed : arg_or_env(args, "firmware-version", "HXTP_FIRMWARE_VERSION", "1.0.0");
  if (s.device_id.empty() || s.secret.empty() || s.server.empty()) {
    std::fprintf(stderr, "usage: hxtp-device --device-id ID --tenant-id T --secret HEX --server URL [...]\n");
    return 2;
  }
  hxtp::Identity id;
  std::snprintf(id.device_id, sizeof id.device_id, "%s", s.device_id.c_str());
  std::snprintf(id.tenant_id, sizeof id.tenant_id, "%s", s.tenant_id.c_str());
  std::snprintf(id.device_type, sizeof id.device_type, "%s", s.device_type.c_str());
  std::snprintf(id.firmware_version, sizeof id.firmware_version, "%s", s.firmware_version.c_str());
  if (!hxtp::hex_decode(Span(s.secret.data(), s.secret.size()), id.secret, 32)) {
    std::fprintf(stderr, "the secret must be 64 hex characters\n");
    return 2;
  }
  app.platform.seq_path = s.state_dir + "/sequence";
  if (!app.device.begin(id)) {
    std::fprintf(stderr, "device id, tenant id, type or version hold unsupported characters\n");
    return 2;
  }
  app.light.attach(app.device);
  app.device.on_ota(on_ota, &app);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  std::string endpoint;
  while (!g_stop && !bootstrap(app, &endpoint)) sleep(1);
  if (!s.broker.empty()) endpoint = s.broker;
  // scheme://host:port; mqtts uses TLS with the system CAs, mqtt is plain (loopback test brokers).
  bool tls = endpoint.compare(0, 8, "mqtts://") == 0;
  std::string rest = endpoint.substr(endpoint.find("://") == std::string::npos ? 0 : endpoint.find("://") + 3);
  std::string host = rest.substr(0, rest.rfind(':'));
  int port = rest.rfind(':') == std::string::npos ? 8883 : std::atoi(rest.c_str() + rest.rfind(':') + 1);
  say("log broker " + host + ":" + std::to_string(port) + (tls ? " tls" : ""));

  mosquitto_lib_init();
  std::string client_id = "hxtp-" + s.device_id;
  mosquitto* mosq = mosquitto_new(client_id.c_str(), true, nullptr);
  app.platform.mosq = mosq;
  mosquitto_username_pw_set(mosq, s.device_id.c_str(), s.secret.c_str());
  if (tls) mosquitto_tls_set(mosq, nullptr, "/etc/ssl/certs", nullptr, nullptr, nullptr);
  mosquitto_connect_callback_set(mosq, on_connect);
  mosquitto_subscribe_callback_set(mosq, on_subscribe);
  mosquitto_message_callback_set(mosq, on_message);
  mosquitto_reconnect_delay_set(mosq, 1, 60, true);
  while (!g_stop && mosquitto_connect(mosq, host.c_str(), port, 60) != MOSQ_ERR_SUCCESS) sleep(1);

  int64_t last_beat = wall_ms();
  const int64_t started = wall_ms();
  while (!g_stop) {
    int rc = mosquitto_loop(mosq, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      app.connected = false;
      sleep(1);
      mosquitto_reconnect(mosq);
      continue;
    }
    if (app.pending_ota) run_ota(app);
    if (app.connected && wall_ms() - last_beat >= app.heartbeat_s * 1000LL) {
      last_beat = wall_ms();
      app.device.send_heartbeat(static_cast<uint64_t>((last_beat - started) / 1000));
    }
  }
  mosquitto_disconnect(mosq);
  mosquitto_loop(mosq, 100, 1);
  mosquitto_destroy(mosq);
  mosquitto_lib_cleanup();
  return 0;
}
