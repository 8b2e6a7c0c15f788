#include "http.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace hxtp_host {

namespace {

bool parse_url(const std::string& url, std::string* host, std::string* port, std::string* path) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) return false;
  size_t start = scheme.size();
  size_t slash = url.find('/', start);
  std::string authority = url.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
  *path = slash == std::string::npos ? "/" : url.substr(slash);
  size_t colon = authority.rfind(':');
  if (colon == std::string::npos) {
    *host = authority;
    *port = "80";
  } else {
    *host = authority.substr(0, colon);
    *port = authority.substr(colon + 1);
  }
  return !host->empty();
}

bool dechunk(const std::string& in, std::string* out) {
  size_t pos = 0;
  out->clear();
  while (true) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    size_t size = std::strtoul(in.substr(pos, eol - pos).c_str(), nullptr, 16);
    pos = eol + 2;
    if (size == 0) return true;
    if (pos + size > in.size()) return false;
    out->append(in, pos, size);
    pos += size + 2;
  }
}

}  // namespace

HttpResponse http_get(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                      int timeout_s) {
  HttpResponse response;
  std::string host, port, path;
  if (!parse_url(url, &host, &port, &path)) {
    response.error = "only http:// URLs are supported by the host device";
    return response;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    response.error = "cannot resolve " + host;
    return response;
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) {
    response.error = "cannot connect to " + host + ":" + port;
    return response;
  }
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + port + "\r\nConnection: close\r\n";
  for (const auto& h : headers) request += h.first + ": " + h.second + "\r\n";
  request += "\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, 0);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[8192];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos) {
    response.error = "malformed HTTP response";
    return response;
  }
  size_t space = raw.find(' ');
  response.status = std::atoi(raw.c_str() + space + 1);
  std::string head = raw.substr(0, head_end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string body = raw.substr(head_end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    if (!dechunk(body, &response.body)) response.error = "truncated chunked body";
  } else {
    size_t cl = head.find("content-length:");
    if (cl != std::string::npos) {
      size_t length = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
      if (body.size() < length) response.error = "truncated body";
      body.resize(std::min(body.size(), length));
    }
    response.body = body;
  }
  return response;
}

}  // namespace hxtp_host
