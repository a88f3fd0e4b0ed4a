// A one-line progress bar on stderr (bytes, rate, ETA), redrawn at most ten times a second.
#pragma once

#include <chrono>
#include <string>

#include "coreml/hub.h"

namespace coreml::hub {

class TerminalProgress {
 public:
  // Draws only when stderr is a terminal.
  TerminalProgress();
  void update(const DownloadProgress& progress);

 private:
  bool enabled_ = false;
  std::string file_;
  uint64_t start_bytes_ = 0;
  std::chrono::steady_clock::time_point file_start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "12.3 MB", "980 B".
std::string human_bytes(double bytes);

}  // namespace coreml::hub
