// The ANEMLL generation loop over one KV state: batched prefill, remainder, decode, shift.
#include <algorithm>
#include <mutex>

#include "anemll_model.h"
#include "coreml/error.h"

namespace coreml::llm {

struct Sequence::Impl {
  const Model::Impl* model;
  State state;
  std::vector<int32_t> window;
  size_t processed = 0;  // window tokens whose KV is written
  int shifts = 0;
  int64_t prefilled = 0;
  StepOutput step;              // the last step's logits, reused
  std::vector<int32_t> padded;  // a zero-padded last prefill batch

  // Runs window[processed:] into the cache (reference Session.prefill).
  void prefill() {
    const ModelInfo& info = model->info;
    const auto total = static_cast<int64_t>(window.size());
    const int64_t batch = info.batch_size, context = info.context_length;
    int64_t start = static_cast<int64_t>(processed);
    while (start + batch <= total) {
      model->run_layers(std::span<const int32_t>(window).subspan(static_cast<size_t>(start),
                                                                 static_cast<size_t>(batch)),
                        start, true, state);
      start += batch;
    }
    if (start < total) {
      if (!info.prefill_dynamic_slice && start + batch <= context) {
        // 0.3.4: one zero-padded batch; the padded slots are overwritten later.
        padded.assign(window.begin() + start, window.end());
        padded.resize(static_cast<size_t>(batch), 0);
        model->run_layers(padded, start, true, state);
      } else {
        for (int64_t i = start; i < total; ++i) {
          model->run_layers(std::span<const int32_t>(&window[static_cast<size_t>(i)], 1), i, false,
                            state);
        }
      }
    }
    prefilled += total - static_cast<int64_t>(processed);
    processed = window.size();
  }

  void shift() {
    const int64_t batch = model->info.batch_size, context = model->info.context_length;
    const int64_t keep =
        std::min(std::max<int64_t>(1, context / batch - 2) * batch, context - batch);
    window.erase(window.begin(), window.end() - keep);
    processed = 0;
    ++shifts;
    prefill();
  }

  void check_fits(size_t count) const {
    if (static_cast<int64_t>(count) > model->info.context_length) {
      fail(ErrorCode::kInvalidArgument, "llm sequence: ", count,
           " tokens do not fit the context of ", model->info.context_length);
    }
  }
};

Sequence::Sequence(const Model& model) : impl_(std::make_unique<Impl>()) {
  impl_->model = &model.impl();
  {
    std::lock_guard lock(impl_->model->step_mutex);
    impl_->state = impl_->model->make_state();
  }
  // The window never outgrows the context (it shifts first): no reallocation while decoding.
  impl_->window.reserve(static_cast<size_t>(impl_->model->info.context_length) + 1);
}
Sequence::Sequence(Sequence&&) noexcept = default;
Sequence& Sequence::operator=(Sequence&&) noexcept = default;
Sequence::~Sequence() = default;

const std::vector<int32_t>& Sequence::tokens() const { return impl_->window; }
size_t Sequence::processed() const { return impl_->processed; }
int Sequence::context_shifts() const { return impl_->shifts; }
int64_t Sequence::prefilled_tokens() const { return impl_->prefilled; }

void Sequence::set_tokens(std::span<const int32_t> ids) {
  impl_->check_fits(ids.size());
  auto& window = impl_->window;
  size_t common = 0;
  while (common < window.size() && common < ids.size() && window[common] == ids[common]) {
    ++common;
  }
  impl_->processed = std::min(impl_->processed, common);
  window.assign(ids.begin(), ids.end());
  std::lock_guard lock(impl_->model->step_mutex);
  impl_->prefill();
}

void Sequence::extend(std::span<const int32_t> ids) {
  impl_->check_fits(impl_->window.size() + ids.size());
  impl_->window.insert(impl_->window.end(), ids.begin(), ids.end());
  std::lock_guard lock(impl_->model->step_mutex);
  impl_->prefill();
}

const StepOutput& Sequence::next() {
  auto& window = impl_->window;
  if (window.empty()) fail(ErrorCode::kInvalidArgument, "llm sequence: next() needs a token");
  std::lock_guard lock(impl_->model->step_mutex);
  if (static_cast<int64_t>(window.size()) >= impl_->model->info.context_length) impl_->shift();
  if (impl_->processed + 1 < window.size()) impl_->prefill();
  const auto pos = static_cast<int64_t>(window.size());
  // ANEMLL re-runs the last token through infer: its KV is rewritten, its output is the logits.
  const Tensor& hidden =
      impl_->model->run_layers(std::span<const int32_t>(&window[static_cast<size_t>(pos - 1)], 1),
                               pos - 1, false, impl_->state);
  impl_->processed = window.size();
  impl_->model->run_head(hidden, impl_->step);
  return impl_->step;
}

void Sequence::accept(int32_t token) { impl_->window.push_back(token); }

void Sequence::reset() {
  impl_->window.clear();
  impl_->processed = 0;
  impl_->state.reset();
}

}  // namespace coreml::llm
