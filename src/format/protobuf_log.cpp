#include "format/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <mutex>

namespace coreml::format {
namespace {

thread_local ProtobufLogCapture* active_capture = nullptr;
google::protobuf::LogHandler* previous_handler = nullptr;

void handle_log(google::protobuf::LogLevel level, const char* filename, int line,
                const std::string& message) {
  if (active_capture != nullptr) {
    active_capture->append(message);
  } else if (previous_handler != nullptr) {
    previous_handler(level, filename, line, message);  // not ours: behave as before
  }
}

}  // namespace

void ProtobufLogCapture::append(const std::string& message) {
  if (text_.size() > 1000) return;  // one hostile file can trigger many
  if (!text_.empty()) text_ += "; ";
  text_ += message;
}

ProtobufLogCapture::ProtobufLogCapture() : outer_(active_capture) {
  // SetLogHandler is not thread-safe: install once, before any capture is active.
  static std::once_flag installed;
  std::call_once(installed, [] { previous_handler = google::protobuf::SetLogHandler(handle_log); });
  active_capture = this;
}

ProtobufLogCapture::~ProtobufLogCapture() { active_capture = outer_; }

std::string ProtobufLogCapture::suffix() const {
  return text_.empty() ? std::string() : " (protobuf: " + text_ + ")";
}

}  // namespace coreml::format
