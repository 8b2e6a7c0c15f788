// Copy to include/secrets.h (git-ignored) and fill in, or provision the same keys over the serial
// console (see README.md). Values in secrets.h are written to NVS on first boot only.
#pragma once

#define HXTP_WIFI_SSID "my-wifi"
#define HXTP_WIFI_PASS "my-wifi-password"
// From POST /api/v1/devices/register: device_id (32 chars), tenant_id, device_secret (64 hex).
#define HXTP_DEVICE_ID "0123456789abcdef0123456789abcdef"
#define HXTP_TENANT_ID "00000000-0000-4000-8000-000000000000"
#define HXTP_DEVICE_SECRET "0000000000000000000000000000000000000000000000000000000000000000"
// The server's api_base_url (HXTP_API_BASE_URL), https in production.
#define HXTP_API_BASE_URL "https://cloud.example.com/api/v1"
// The server's release key: signing_public_key of GET /api/v1/firmware/{id}, or
// <data dir>/firmware_signing_key.pub (64 hex).
#define HXTP_OTA_PUBLIC_KEY "0000000000000000000000000000000000000000000000000000000000000000"
// PEM of the CA that signed the broker's and the API's TLS certificates.
#define HXTP_CA_CERT \
  "-----BEGIN CERTIFICATE-----\n" \
  "...\n" \
  "-----END CERTIFICATE-----\n"
