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

  bool rotated = false;  // a rotate function shifted the local cache since the last reset

  void run(std::span<const int32_t> ids, int64_t start, StepFunction function) {
    if (function == StepFunction::kInferRotate || function == StepFunction::kPrefillRotate) {
      rotated = true;
    }
    model->run_layers(ids, start, function, state);
  }

  std::span<const int32_t> tokens_at(int64_t start, int64_t count) const {
    return std::span<const int32_t>(window).subspan(static_cast<size_t>(start),
                                                    static_cast<size_t>(count));
  }

  // Runs window[processed:] into the cache (reference Session.prefill / Session035.prefill).
  void prefill() {
    if (processed == 0) rotated = false;  // every row is rewritten from position 0
    if (model->anemll_035_schedule) {
      prefill_035();
    } else {
      prefill_034();
    }
    prefilled += static_cast<int64_t>(window.size() - processed);
    processed = window.size();
  }

  // ANEMLL 0.3.5's chat.py: full batches through prefill (prefill_rotate from the sliding
  // window on), the rest one token at a time through infer (infer_rotate from the window on).
  // A batch that would straddle the window start goes token by token up to it, as 0.3.5's
  // monolithic loop does (the chunked loop never meets one: windows are multiples of the batch).
  void prefill_035() {
    const auto total = static_cast<int64_t>(window.size());
    const int64_t batch = model->info.batch_size, rotate_from = model->rotate_from;
    int64_t start = static_cast<int64_t>(processed);
    while (start < total) {
      const bool whole_batch =
          start + batch <= total && (start >= rotate_from || start + batch <= rotate_from);
      if (!model->single_token_prefill && whole_batch) {
        run(tokens_at(start, batch), start,
            start >= rotate_from ? StepFunction::kPrefillRotate : StepFunction::kPrefill);
        start += batch;
      } else {
        run(tokens_at(start, 1), start,
            start >= rotate_from ? StepFunction::kInferRotate : StepFunction::kInfer);
        ++start;
      }
    }
  }

  void prefill_034() {
    const ModelInfo& info = model->info;
    const auto total = static_cast<int64_t>(window.size());
    const int64_t batch = info.batch_size, context = info.context_length;
    int64_t start = static_cast<int64_t>(processed);
    while (start + batch <= total) {
      run(tokens_at(start, batch), start, StepFunction::kPrefill);
      start += batch;
    }
    if (start < total) {
      if (!info.prefill_dynamic_slice && start + batch <= context) {
        // 0.3.4: one zero-padded batch; the padded slots are overwritten later.
        padded.assign(window.begin() + start, window.end());
        padded.resize(static_cast<size_t>(batch), 0);
        run(padded, start, StepFunction::kPrefill);
      } else {
        for (int64_t i = start; i < total; ++i) run(tokens_at(i, 1), i, StepFunction::kInfer);
      }
    }
  }

  // How much of the cache a window sharing `common` tokens with the cached one may keep. A
  // rotating (Gemma 3) model keeps nothing once its local cache has rotated (the rows of the
  // dropped tokens are gone), and otherwise resumes at a batch boundary, so that the rest runs
  // through the same batches as a fresh prefill would (prefill_rotate is not causal within its
  // batch: its results depend on where batches start).
  size_t reusable(size_t common) const {
    size_t keep = std::min(processed, common);
    if (model->info.rotates) {
      const auto batch = static_cast<size_t>(model->info.batch_size);
      keep = rotated ? 0 : keep / batch * batch;
    }
    return keep;
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
  impl_->processed = impl_->reusable(common);
  window.assign(ids.begin(), ids.end());
  std::lock_guard lock(impl_->model->step_mutex);
  impl_->prefill();
}

void Sequence::extend(std::span<const int32_t> ids) {
  impl_->check_fits(impl_->window.size() + ids.size());
  impl_->processed = impl_->reusable(impl_->window.size());
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
  // ANEMLL re-runs the last token through infer: its KV is rewritten, its output is the logits
  // (with a rotating cache, 0.3.5 shifts it again: the last prompt token then holds two rows).
  const bool rotate = pos - 1 >= impl_->model->rotate_from;
  if (rotate) impl_->rotated = true;
  const Outputs& outputs = impl_->model->run_layers(
      std::span<const int32_t>(&window[static_cast<size_t>(pos - 1)], 1), pos - 1,
      rotate ? StepFunction::kInferRotate : StepFunction::kInfer, impl_->state);
  impl_->processed = window.size();
  impl_->model->run_head(outputs, impl_->step);
  return impl_->step;
}

void Sequence::accept(int32_t token) { impl_->window.push_back(token); }

void Sequence::reset() {
  impl_->window.clear();
  impl_->processed = 0;
  impl_->rotated = false;
  impl_->state.reset();
}

}  // namespace coreml::llm
