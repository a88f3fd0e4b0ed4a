#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "coreml/error.h"

namespace coreml::hub {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(const std::string& text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

struct Transfer {
  HttpResponse response;
  const BodySink* sink = nullptr;
  bool sink_refused = false;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (e.g. after "100 Continue"): start the header set over.
    transfer->response.headers.clear();
    const size_t space = line.find(' ');
    transfer->response.status =
        space == std::string::npos ? 0 : std::atoi(line.c_str() + space + 1);
  } else if (const size_t colon = line.find(':'); colon != std::string::npos) {
    transfer->response.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (transfer->sink && *transfer->sink) {
    if (!(*transfer->sink)(transfer->response, data, bytes)) {
      transfer->sink_refused = true;
      return 0;
    }
  } else if (transfer->response.body.size() + bytes <= (64u << 20)) {
    transfer->response.body.append(data, bytes);
  } else {
    transfer->sink_refused = true;  // an API answer this large is not one we understand
    return 0;
  }
  return bytes;
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpResult perform_http(const HttpRequest& request, const BodySink& sink) {
  global_init();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) fail(ErrorCode::kInternal, "could not start a libcurl session");
  Transfer transfer;
  transfer.sink = &sink;
  curl_slist* header_list = nullptr;
  for (const auto& h : request.headers) header_list = curl_slist_append(header_list, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers_owner(header_list,
                                                                            curl_slist_free_all);
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "coreml-cpp/0.1 (huggingface_hub-compatible)");
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT,
                   static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(request.stall_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
  if (request.method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    fail(ErrorCode::kInternal, "unsupported HTTP method ", request.method);
  }
  const CURLcode code = curl_easy_perform(handle);
  HttpResult result;
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  transfer.response.status = static_cast<int>(status);
  result.response = std::move(transfer.response);
  if (code == CURLE_OK) return result;
  result.failure_text = curl_easy_strerror(code);
  if (transfer.sink_refused || code == CURLE_WRITE_ERROR) {
    result.failure = TransportFailure::kSinkRefused;
  } else if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
             code == CURLE_COULDNT_RESOLVE_PROXY) {
    result.failure = TransportFailure::kCouldNotConnect;
  } else if (code == CURLE_PARTIAL_FILE || code == CURLE_OPERATION_TIMEDOUT ||
             code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR || code == CURLE_GOT_NOTHING ||
             code == CURLE_SSL_CONNECT_ERROR || code == CURLE_HTTP2 || code == CURLE_HTTP2_STREAM) {
    result.failure = TransportFailure::kInterrupted;
  } else {
    result.failure = TransportFailure::kOther;
  }
  return result;
}

std::string resolve_url(const std::string& base, const std::string& location) {
  global_init();
  CURLU* url = curl_url();
  if (!url) fail(ErrorCode::kInternal, "could not allocate a URL");
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> owner(url, curl_url_cleanup);
  if (curl_url_set(url, CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(url, CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) {
    fail(ErrorCode::kParse, "the server redirected to an invalid URL '", location, "'");
  }
  char* text = nullptr;
  if (curl_url_get(url, CURLUPART_URL, &text, 0) != CURLUE_OK) {
    fail(ErrorCode::kParse, "the server redirected to an invalid URL '", location, "'");
  }
  std::string resolved(text);
  curl_free(text);
  return resolved;
}

std::string url_origin(const std::string& text) {
  global_init();
  CURLU* url = curl_url();
  if (!url) fail(ErrorCode::kInternal, "could not allocate a URL");
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> owner(url, curl_url_cleanup);
  if (curl_url_set(url, CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return {};
  std::string origin;
  for (CURLUPart part : {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT}) {
    char* value = nullptr;
    const unsigned flags = part == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0;
    if (curl_url_get(url, part, &value, flags) == CURLUE_OK && value) {
      origin += lower(value);
      curl_free(value);
    }
    origin += part == CURLUPART_SCHEME ? "://" : part == CURLUPART_HOST ? ":" : "";
  }
  return origin;
}

std::string url_encode(const std::string& text, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace coreml::hub
