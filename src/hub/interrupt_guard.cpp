#include "hub/interrupt_guard.h"

#include <atomic>
#include <csignal>
#include <mutex>

#include "coreml/error.h"

namespace coreml::hub {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

std::atomic<int> pending_signal{0};
std::mutex guards_mutex;
int live_guards = 0;
bool installed[std::size(kSignals)] = {};

void record(int signal_number) { pending_signal.store(signal_number); }

}  // namespace

InterruptGuard::InterruptGuard() {
  std::lock_guard<std::mutex> lock(guards_mutex);
  if (live_guards++ > 0) return;
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    struct sigaction current {};
    sigaction(kSignals[i], nullptr, &current);
    installed[i] = current.sa_handler == SIG_DFL && !(current.sa_flags & SA_SIGINFO);
    if (!installed[i]) continue;  // the application handles it: leave that alone
    struct sigaction ours {};
    ours.sa_handler = record;
    sigemptyset(&ours.sa_mask);
    sigaction(kSignals[i], &ours, nullptr);
  }
}

InterruptGuard::~InterruptGuard() {
  std::lock_guard<std::mutex> lock(guards_mutex);
  if (--live_guards > 0) return;
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    if (!installed[i]) continue;
    struct sigaction standard {};
    standard.sa_handler = SIG_DFL;
    sigemptyset(&standard.sa_mask);
    sigaction(kSignals[i], &standard, nullptr);
    installed[i] = false;
  }
  if (const int signal_number = pending_signal.exchange(0)) std::raise(signal_number);
}

void InterruptGuard::throw_if_interrupted(const std::string& what) const {
  if (const int signal_number = pending_signal.load()) {
    fail(ErrorCode::kIo, "interrupted (signal ", signal_number, ") while extracting ", what);
  }
}

}  // namespace coreml::hub
