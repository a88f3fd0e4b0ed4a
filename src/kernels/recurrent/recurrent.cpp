// lstm, gru and rnn over x [seq, batch, input], as coremltools defines them:
//   lstm gates in [input, forget, output, cell] order, peepholes [i, f, o] (i and f see the
//   previous cell state, o the new one), `clip` bounds the cell state; directions forward,
//   reverse, bidirectional (the backward half of a bidirectional output is aligned with the
//   input's time steps, as PyTorch's; a "reverse" layer emits in processing order).
//   gru gates in [reset, output(new), update] order: h = (1 - z) * o + z * h_prev with
//   o = act(W_io x + W_ho (r * h_prev) + b), or with reset_after (iOS18)
//   o = act(W_io x + b_io + r * (W_ho h_prev + b_ho)); iOS18's input_bias holds the input-side
//   biases and `bias` the hidden-side ones.
//   rnn: h = act(W_ih x + W_hh h_prev + b).
// Everything computes in fp32 and rounds once to the output dtype.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "kernels/common/compute.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

using Activation = float (*)(float);

float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }
float hard_sigmoid(float v) { return std::clamp(0.2f * v + 0.5f, 0.0f, 1.0f); }
float tanh_f(float v) { return std::tanh(v); }
float relu(float v) { return v > 0 ? v : 0.0f; }
float linear(float v) { return v; }

Activation activation_of(const runtime::OpContext& ctx, const char* param, const char* fallback) {
  std::string name = ctx.get_string(param, fallback);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name == "sigmoid") return sigmoid;
  if (name == "tanh" || name == "scaled_tanh") return tanh_f;  // scaled_tanh: alpha = beta = 1
  if (name == "hard_sigmoid" || name == "sigmoid_hard") return hard_sigmoid;
  if (name == "relu") return relu;
  if (name == "linear") return linear;
  ctx.fail(
      param, " '", name,
      "' is not supported (expected sigmoid, tanh, scaled_tanh, hard_sigmoid, relu or linear)");
}

// A weight matrix [rows, cols] read densely in fp32.
struct Matrix {
  std::vector<float> data;
  int64_t rows = 0, cols = 0;
  // out[r] += sum_c M[r, c] * v[c]
  void multiply_add(const float* v, float* out) const {
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = data.data() + r * cols;
      float acc = 0;
      for (int64_t c = 0; c < cols; ++c) acc += row[c] * v[c];
      out[r] += acc;
    }
  }
};

Matrix matrix(const runtime::OpContext& ctx, const char* param, int64_t rows, int64_t cols) {
  const Tensor& t = ctx.in(param);
  if (t.rank() != 2 || t.shape()[0] != rows || t.shape()[1] != cols) {
    ctx.fail(param, " must have shape [", rows, ", ", cols, "], got ", t.to_string(0));
  }
  return {load_f32(t), rows, cols};
}

std::vector<float> vector_or_zeros(const runtime::OpContext& ctx, const char* param, int64_t n) {
  if (!ctx.has(param)) return std::vector<float>(static_cast<size_t>(n), 0.0f);
  const Tensor& t = ctx.in(param);
  if (t.numel() != n) ctx.fail(param, " must have ", n, " values, got ", t.numel());
  return load_f32(t);
}

struct Sequence {
  int64_t steps = 0, batch = 0, input = 0;
  std::vector<float> x;  // [steps, batch, input]
};

Sequence sequence(const runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  if (x.rank() != 3) ctx.fail("x must have rank 3 [seq, batch, input], got rank ", x.rank());
  return {x.shape()[0], x.shape()[1], x.shape()[2], load_f32(x)};
}

// Hidden size from weight_hh [gates * H, H].
int64_t hidden_size(const runtime::OpContext& ctx, int64_t gates) {
  const Tensor& w = ctx.in("weight_hh");
  if (w.rank() != 2 || w.shape()[0] != gates * w.shape()[1]) {
    ctx.fail("weight_hh must have shape [", gates, " * H, H], got ", w.to_string(0));
  }
  return w.shape()[1];
}

// Initial state [batch, directions * H] as per-direction rows.
std::vector<float> initial_state(const runtime::OpContext& ctx, const char* param, int64_t batch,
                                 int64_t width) {
  const Tensor& t = ctx.in(param);
  if (t.numel() != batch * width) {
    ctx.fail(param, " must have shape [", batch, ", ", width, "], got ", t.to_string(0));
  }
  return load_f32(t);
}

// The step order and, for each step, where its output goes in the sequence output.
struct Direction {
  bool backward = false;  // processes x from the last step to the first
  bool aligned = false;   // output of the step for x[t] goes to out[t] (else processing order)
};

int64_t input_step(const Direction& d, int64_t k, int64_t steps) {
  return d.backward ? steps - 1 - k : k;
}
int64_t output_step(const Direction& d, int64_t k, int64_t steps) {
  return d.aligned ? input_step(d, k, steps) : k;
}

Direction direction_of(const runtime::OpContext& ctx, const std::string& direction) {
  if (direction == "forward") return {false, false};
  if (direction == "reverse") return {true, false};
  ctx.fail("direction '", direction, "' is not supported");
}

// Writes the outputs common to all three ops: the sequence (or the last step) and final h.
void emit_sequence(runtime::OpContext& ctx, bool output_sequence, const Sequence& s, int64_t width,
                   const std::vector<float>& all, const std::vector<float>& last_h) {
  if (output_sequence) {
    emit(ctx, 0, {s.steps, s.batch, width}, all);
  } else {
    emit(ctx, 0, {1, s.batch, width}, last_h);
  }
  emit(ctx, 1, {s.batch, width}, last_h);
}

struct LstmWeights {
  Matrix ih, hh;
  std::vector<float> bias, peephole;
};

void lstm(runtime::OpContext& ctx) {
  const Sequence s = sequence(ctx);
  const int64_t h = hidden_size(ctx, 4);
  const std::string direction = ctx.get_string("direction", "forward");
  const bool bidirectional = direction == "bidirectional";
  const int64_t dirs = bidirectional ? 2 : 1;
  const bool output_sequence = ctx.get_bool("output_sequence", false);
  const Activation gate_act = activation_of(ctx, "recurrent_activation", "sigmoid");
  const Activation cell_act = activation_of(ctx, "cell_activation", "tanh");
  const Activation out_act = activation_of(ctx, "activation", "tanh");
  const bool clip = ctx.has_param("clip");
  const auto clip_value = static_cast<float>(clip ? ctx.get_float("clip") : 0.0);
  std::vector<LstmWeights> weights;
  weights.push_back({matrix(ctx, "weight_ih", 4 * h, s.input), matrix(ctx, "weight_hh", 4 * h, h),
                     vector_or_zeros(ctx, "bias", 4 * h), vector_or_zeros(ctx, "peephole", 3 * h)});
  std::vector<Direction> directions;
  if (bidirectional) {
    if (!ctx.has("weight_ih_back") || !ctx.has("weight_hh_back")) {
      ctx.fail("a bidirectional lstm needs weight_ih_back and weight_hh_back");
    }
    weights.push_back(
        {matrix(ctx, "weight_ih_back", 4 * h, s.input), matrix(ctx, "weight_hh_back", 4 * h, h),
         vector_or_zeros(ctx, "bias_back", 4 * h), vector_or_zeros(ctx, "peephole_back", 3 * h)});
    directions = {{false, true}, {true, true}};
  } else {
    directions = {direction_of(ctx, direction)};
  }
  const int64_t width = dirs * h;
  const auto h0 = initial_state(ctx, "initial_h", s.batch, width);
  const auto c0 = initial_state(ctx, "initial_c", s.batch, width);
  std::vector<float> all(static_cast<size_t>(s.steps * s.batch * width));
  std::vector<float> last_h(static_cast<size_t>(s.batch * width));
  std::vector<float> last_c(last_h.size());
  std::vector<float> gates(static_cast<size_t>(4 * h));
  for (int64_t d = 0; d < dirs; ++d) {
    const LstmWeights& w = weights[static_cast<size_t>(d)];
    const Direction& dir = directions[static_cast<size_t>(d)];
    for (int64_t b = 0; b < s.batch; ++b) {
      std::vector<float> hs(h0.begin() + b * width + d * h, h0.begin() + b * width + (d + 1) * h);
      std::vector<float> cs(c0.begin() + b * width + d * h, c0.begin() + b * width + (d + 1) * h);
      for (int64_t k = 0; k < s.steps; ++k) {
        const float* xt = s.x.data() + (input_step(dir, k, s.steps) * s.batch + b) * s.input;
        std::copy(w.bias.begin(), w.bias.end(), gates.begin());
        w.ih.multiply_add(xt, gates.data());
        w.hh.multiply_add(hs.data(), gates.data());
        for (int64_t j = 0; j < h; ++j) {
          const float i_gate = gate_act(gates[j] + w.peephole[j] * cs[j]);
          const float f_gate = gate_act(gates[h + j] + w.peephole[h + j] * cs[j]);
          const float z = cell_act(gates[3 * h + j]);
          float c = f_gate * cs[j] + i_gate * z;
          if (clip) c = std::clamp(c, -clip_value, clip_value);
          const float o_gate = gate_act(gates[2 * h + j] + w.peephole[2 * h + j] * c);
          cs[j] = c;
          hs[j] = o_gate * out_act(c);
        }
        float* out = all.data() + (output_step(dir, k, s.steps) * s.batch + b) * width + d * h;
        std::copy(hs.begin(), hs.end(), out);
      }
      std::copy(hs.begin(), hs.end(), last_h.begin() + b * width + d * h);
      std::copy(cs.begin(), cs.end(), last_c.begin() + b * width + d * h);
    }
  }
  emit_sequence(ctx, output_sequence, s, width, all, last_h);
  emit(ctx, 2, {s.batch, width}, last_c);
}

void gru(runtime::OpContext& ctx) {
  const Sequence s = sequence(ctx);
  const int64_t h = hidden_size(ctx, 3);
  const Direction dir = direction_of(ctx, ctx.get_string("direction", "forward"));
  const bool output_sequence = ctx.get_bool("output_sequence", false);
  const Activation gate_act = activation_of(ctx, "recurrent_activation", "sigmoid");
  const Activation act = activation_of(ctx, "activation", "tanh");
  const bool reset_after = ctx.get_bool("reset_after", false);
  const Matrix ih = matrix(ctx, "weight_ih", 3 * h, s.input);
  const Matrix hh = matrix(ctx, "weight_hh", 3 * h, h);
  const auto hidden_bias = vector_or_zeros(ctx, "bias", 3 * h);
  const auto input_bias = vector_or_zeros(ctx, "input_bias", 3 * h);
  const auto h0 = initial_state(ctx, "initial_h", s.batch, h);
  std::vector<float> all(static_cast<size_t>(s.steps * s.batch * h));
  std::vector<float> last_h(static_cast<size_t>(s.batch * h));
  std::vector<float> from_x(static_cast<size_t>(3 * h)), from_h(from_x.size()),
      reset_h(static_cast<size_t>(h));
  for (int64_t b = 0; b < s.batch; ++b) {
    std::vector<float> hs(h0.begin() + b * h, h0.begin() + (b + 1) * h);
    for (int64_t k = 0; k < s.steps; ++k) {
      const float* xt = s.x.data() + (input_step(dir, k, s.steps) * s.batch + b) * s.input;
      std::copy(input_bias.begin(), input_bias.end(), from_x.begin());
      ih.multiply_add(xt, from_x.data());
      // Hidden-side products of the reset and update gates; the output gate's depends on
      // reset_after.
      std::copy(hidden_bias.begin(), hidden_bias.end(), from_h.begin());
      std::fill(from_h.begin() + h, from_h.begin() + 2 * h, 0.0f);
      for (int64_t g : {int64_t{0}, int64_t{2}}) {
        for (int64_t j = 0; j < h; ++j) {
          const float* row = hh.data.data() + (g * h + j) * h;
          float acc = 0;
          for (int64_t c = 0; c < h; ++c) acc += row[c] * hs[c];
          from_h[g * h + j] += acc;
        }
      }
      std::vector<float> r(static_cast<size_t>(h)), z(static_cast<size_t>(h));
      for (int64_t j = 0; j < h; ++j) {
        r[j] = gate_act(from_x[j] + from_h[j]);
        z[j] = gate_act(from_x[2 * h + j] + from_h[2 * h + j]);
        reset_h[j] = reset_after ? hs[j] : r[j] * hs[j];
      }
      std::vector<float> new_h(static_cast<size_t>(h));
      for (int64_t j = 0; j < h; ++j) {
        const float* row = hh.data.data() + (h + j) * h;
        float acc = 0;
        for (int64_t c = 0; c < h; ++c) acc += row[c] * reset_h[c];
        const float hidden = acc + hidden_bias[h + j];
        const float o = act(from_x[h + j] + (reset_after ? r[j] * hidden : hidden));
        new_h[j] = (1 - z[j]) * o + z[j] * hs[j];
      }
      hs = new_h;
      std::copy(hs.begin(), hs.end(),
                all.data() + (output_step(dir, k, s.steps) * s.batch + b) * h);
    }
    std::copy(hs.begin(), hs.end(), last_h.begin() + b * h);
  }
  emit_sequence(ctx, output_sequence, s, h, all, last_h);
}

void rnn(runtime::OpContext& ctx) {
  const Sequence s = sequence(ctx);
  const Tensor& w_ih = ctx.in("weight_ih");
  if (w_ih.rank() != 2) ctx.fail("weight_ih must have rank 2");
  const int64_t h = w_ih.shape()[0];
  const Direction dir = direction_of(ctx, ctx.get_string("direction", "forward"));
  const bool output_sequence = ctx.get_bool("output_sequence", false);
  const Activation act = activation_of(ctx, "activation", "tanh");
  const Matrix ih = matrix(ctx, "weight_ih", h, s.input);
  const Matrix hh = matrix(ctx, "weight_hh", h, h);
  const auto bias = vector_or_zeros(ctx, "bias", h);
  const auto h0 = initial_state(ctx, "initial_h", s.batch, h);
  std::vector<float> all(static_cast<size_t>(s.steps * s.batch * h));
  std::vector<float> last_h(static_cast<size_t>(s.batch * h));
  std::vector<float> pre(static_cast<size_t>(h));
  for (int64_t b = 0; b < s.batch; ++b) {
    std::vector<float> hs(h0.begin() + b * h, h0.begin() + (b + 1) * h);
    for (int64_t k = 0; k < s.steps; ++k) {
      const float* xt = s.x.data() + (input_step(dir, k, s.steps) * s.batch + b) * s.input;
      std::copy(bias.begin(), bias.end(), pre.begin());
      ih.multiply_add(xt, pre.data());
      hh.multiply_add(hs.data(), pre.data());
      for (int64_t j = 0; j < h; ++j) hs[j] = act(pre[j]);
      std::copy(hs.begin(), hs.end(),
                all.data() + (output_step(dir, k, s.steps) * s.batch + b) * h);
    }
    std::copy(hs.begin(), hs.end(), last_h.begin() + b * h);
  }
  emit_sequence(ctx, output_sequence, s, h, all, last_h);
}

}  // namespace

void register_recurrent_kernels(runtime::KernelRegistry& r) {
  r.add("lstm", lstm);
  r.add("gru", gru);
  r.add("rnn", rnn);
}

}  // namespace coreml::kernels
