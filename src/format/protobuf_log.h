// libprotobuf reports some parse failures (invalid UTF-8 in a string field) by printing its own
// "[libprotobuf ERROR ...]" line to stderr. While a ProtobufLogCapture lives, what libprotobuf
// logs on this thread is collected instead, for the caller to fold into its one coreml::Error.
#pragma once

#include <string>

namespace coreml::format {

class ProtobufLogCapture {
 public:
  ProtobufLogCapture();  // installs our log handler (once per process) and starts capturing
  ~ProtobufLogCapture();
  ProtobufLogCapture(const ProtobufLogCapture&) = delete;
  ProtobufLogCapture& operator=(const ProtobufLogCapture&) = delete;

  // What was logged so far, "; "-joined; empty if nothing.
  const std::string& text() const { return text_; }
  // " (protobuf: ...)" when something was logged, else "".
  std::string suffix() const;
  // Called by the log handler with each message logged on this thread.
  void append(const std::string& message);

 private:
  std::string text_;
  ProtobufLogCapture* outer_ = nullptr;
};

}  // namespace coreml::format
