// Proofs that let state reads alias the state and state updates happen in place.
//
// A KV cache update in ML Programs reads the whole state, updates a slice of the copy and
// writes the copy back (read_state -> slice_update -> write_state): three full copies of the
// cache per layer if done literally. This pass proves, at load time and for top-level ops,
//  - kAliasStateRead on a read_state: nothing writes that state while the value read is
//    alive, so the value may be the state's own memory;
//  - kUpdateInPlace on an op that declares an updatable input (KernelDef::update_input):
//    that input aliases a state, dies at this op, and the op's result flows (through single-use
//    updates of the same kind) into a write_state of the same state with no read of the state
//    in between, so writing into the state directly gives the same final state and values.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

namespace coreml::runtime {

struct AliasingStep {
  enum class Kind { kOther, kReadState, kWriteState, kUpdate };
  Kind kind = Kind::kOther;
  int state = -1;   // read_state/write_state: slot of `input`
  int data = -1;    // write_state: slot of `data`
  int target = -1;  // kUpdate: slot of the updatable input
  int output = -1;  // slot of output 0 (-1 when none)
  bool has_blocks = false;
};

// Hint bits per step (OpContext::Hint). `last_use[slot]`: index of the last step reading the
// slot (steps.size() for function outputs, -1 if never read); `uses[slot]`: how many bindings
// read it anywhere (nested blocks and block outputs included).
std::vector<uint32_t> prove_state_aliasing(const std::vector<AliasingStep>& steps,
                                           const std::set<int>& state_slots,
                                           const std::vector<long>& last_use,
                                           const std::vector<int>& uses);

}  // namespace coreml::runtime
