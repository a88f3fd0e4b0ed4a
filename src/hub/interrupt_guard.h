// Lets a long file-system job (zip extraction) clean up when the process is asked to stop.
#pragma once

#include <string>

namespace coreml::hub {

// While one lives, SIGINT, SIGTERM and SIGHUP (when their disposition is the default, i.e. the
// application has no handler of its own) are recorded instead of ending the process at once.
// The job polls throw_if_interrupted() and unwinds, removing what it half made; the last
// guard's destructor then restores the default disposition and re-raises the signal, so the
// process still ends the way the signal asked.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // Throws coreml::Error ("interrupted while extracting `what`") once a signal arrived.
  void throw_if_interrupted(const std::string& what) const;
};

}  // namespace coreml::hub
