#include "hub/progress.h"

#include <unistd.h>

#include <cstdio>

namespace coreml::hub {

std::string human_bytes(double bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) {
    bytes /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return text;
}

TerminalProgress::TerminalProgress() : enabled_(isatty(STDERR_FILENO) == 1) {}

void TerminalProgress::update(const DownloadProgress& progress) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (progress.file != file_) {
    file_ = progress.file;
    start_bytes_ = progress.downloaded;
    file_start_ = now;
  } else if (!progress.finished && now - last_draw_ < std::chrono::milliseconds(100)) {
    return;
  }
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - file_start_).count();
  const double rate = seconds > 0 ? (progress.downloaded - start_bytes_) / seconds : 0;
  std::string line = file_ + "  " + human_bytes(static_cast<double>(progress.downloaded));
  if (progress.total > 0) {
    const double fraction = static_cast<double>(progress.downloaded) / progress.total;
    const int filled = static_cast<int>(fraction * 20);
    line += " / " + human_bytes(static_cast<double>(progress.total)) + " [" +
            std::string(filled, '#') + std::string(20 - filled, ' ') + "]";
  }
  line += "  " + human_bytes(rate) + "/s";
  if (progress.total > progress.downloaded && rate > 0) {
    const auto eta = static_cast<long>((progress.total - progress.downloaded) / rate);
    char text[32];
    std::snprintf(text, sizeof(text), "  ETA %ld:%02ld", eta / 60, eta % 60);
    line += text;
  }
  std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), progress.finished ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace coreml::hub
