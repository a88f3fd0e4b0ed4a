#include "runtime/state_aliasing.h"

#include <algorithm>
#include <map>

#include "runtime/op_context.h"

namespace coreml::runtime {

std::vector<uint32_t> prove_state_aliasing(const std::vector<AliasingStep>& steps,
                                           const std::set<int>& state_slots,
                                           const std::vector<long>& last_use,
                                           const std::vector<int>& uses) {
  using Kind = AliasingStep::Kind;
  const size_t n = steps.size();
  std::vector<uint32_t> hints(n, OpContext::kNone);
  if (state_slots.empty()) return hints;
  const auto use_of = [&](int slot) { return last_use[static_cast<size_t>(slot)]; };
  // A write to `state` (or a read of it, when `reads`) at a step in (from, to).
  const auto touched = [&](int state, size_t from, size_t to, bool reads) {
    for (size_t j = from + 1; j < std::min(to, n); ++j) {
      const AliasingStep& s = steps[j];
      if ((s.kind == Kind::kWriteState || (reads && s.kind == Kind::kReadState)) &&
          s.state == state) {
        return true;
      }
      if (s.has_blocks) return true;  // nested code: be conservative
    }
    return false;
  };
  std::map<int, int> alias_of;  // slot aliasing a state -> that state's slot
  for (size_t i = 0; i < n; ++i) {
    const AliasingStep& step = steps[i];
    if (step.kind == Kind::kReadState) {
      if (!state_slots.count(step.state) || step.output < 0) continue;
      const long last = use_of(step.output);
      if (last < 0 || !touched(step.state, i, static_cast<size_t>(last) + 1, false)) {
        hints[i] |= OpContext::kAliasStateRead;
        alias_of[step.output] = step.state;
      }
    } else if (step.kind == Kind::kUpdate && step.output >= 0) {
      const auto alias = alias_of.find(step.target);
      if (alias == alias_of.end() || use_of(step.target) != static_cast<long>(i)) continue;
      const int state = alias->second;
      // The result must flow, through single-use updates, into a write_state of the same
      // state, with no read of that state on the way.
      bool flows_to_write = false;
      int value = step.output;
      size_t at = i;
      for (int hops = 0; hops < 64; ++hops) {
        const long w = use_of(value);
        if (uses[static_cast<size_t>(value)] != 1 || w <= static_cast<long>(at) ||
            w >= static_cast<long>(n) || touched(state, at, static_cast<size_t>(w), true)) {
          break;
        }
        const AliasingStep& next = steps[static_cast<size_t>(w)];
        if (next.kind == Kind::kWriteState && next.state == state && next.data == value) {
          flows_to_write = true;
          break;
        }
        if (next.kind != Kind::kUpdate || next.target != value || next.output < 0) break;
        value = next.output;
        at = static_cast<size_t>(w);
      }
      if (!flows_to_write) continue;
      // No other alias of this state may still be alive: it would see the early write.
      bool other_alive = false;
      for (const auto& [slot, s] : alias_of) {
        if (slot != step.target && s == state && use_of(slot) >= static_cast<long>(i)) {
          other_alive = true;
        }
      }
      if (other_alive) continue;
      alias_of[step.output] = state;  // the in-place result is the state's memory
      hints[i] |= OpContext::kUpdateInPlace;
    }
  }
  return hints;
}

}  // namespace coreml::runtime
