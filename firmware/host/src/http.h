// A small blocking HTTP/1.1 GET client for the host device (bootstrap, OTA image download).
// Plain http:// only: the host device talks to a local or test server.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hxtp_host {

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string error;  // transport failure (status 0)
};

HttpResponse http_get(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                      int timeout_s = 15);

}  // namespace hxtp_host
