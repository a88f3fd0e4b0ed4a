// A small libcurl wrapper for the Hub client: one request, no automatic redirects (the caller
// decides where Authorization may go), response headers collected, body streamed to a callback.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace coreml::hub {

struct HttpRequest {
  std::string method = "GET";  // GET or HEAD
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::chrono::seconds connect_timeout{15};
  std::chrono::seconds stall_timeout{60};
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // only when no body sink was given
  std::string header(const std::string& lower_name) const;
};

enum class TransportFailure {
  kNone,
  kCouldNotConnect,  // DNS, refused, unreachable: the network (or the server) is down
  kInterrupted,      // dropped connection, timeout, truncated body: worth retrying
  kSinkRefused,      // the body callback stopped the transfer (e.g. disk full)
  kOther,
};

struct HttpResult {
  HttpResponse response;
  TransportFailure failure = TransportFailure::kNone;
  std::string failure_text;
};

// Receives body bytes of the final response; returns false to abort the transfer.
using BodySink = std::function<bool(const HttpResponse& response, const char* data, size_t size)>;

HttpResult perform_http(const HttpRequest& request, const BodySink& sink = nullptr);

// Resolves `location` (absolute or relative) against `base`.
std::string resolve_url(const std::string& base, const std::string& location);

// scheme://host:port of a URL, for deciding whether credentials may follow a redirect.
std::string url_origin(const std::string& url);

// Percent-encodes a repository path, keeping '/' when keep_slash.
std::string url_encode(const std::string& text, bool keep_slash);

}  // namespace coreml::hub
