// Recurrent layers over rank-5 [Seq, Batch, C, 1, 1] blobs, onto MIL's lstm, gru and rnn over
// [Seq, Batch, C]: LSTM's four gate matrices (input, forget, block input, output) are stacked
// in MIL's order (input, forget, output, cell), GRU's (update, reset, output) in MIL's (reset,
// output, update). NN clips pre-activations to [-50, 50]; the kernels do not, which only
// matters where sigmoid and tanh are already saturated.
#include <string>

#include "format/neural_network/layers.h"

namespace coreml::format::nn {
namespace {

using L = spec::NeuralNetworkLayer;

struct LstmConstants {
  std::string weight_ih, weight_hh, bias, peephole;
};

void append(std::vector<float>& to, const std::vector<float>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

LstmConstants lstm_constants(Layer& l, const spec::LSTMWeightParams& w, const spec::LSTMParams& p,
                             int64_t in, int64_t h) {
  const int64_t ih = checked_product({h, in}, l.where, "weight matrix");
  const int64_t hh = checked_product({h, h}, l.where, "recursion matrix");
  std::vector<float> wi, wh;
  // MIL order: input, forget, output, cell (NN's block input).
  append(wi, weights(w.input_gate_weight_matrix(), ih, l.where, "inputGateWeightMatrix", h));
  append(wi, weights(w.forget_gate_weight_matrix(), ih, l.where, "forgetGateWeightMatrix", h));
  append(wi, weights(w.output_gate_weight_matrix(), ih, l.where, "outputGateWeightMatrix", h));
  append(wi, weights(w.block_input_weight_matrix(), ih, l.where, "blockInputWeightMatrix", h));
  append(wh, weights(w.input_gate_recursion_matrix(), hh, l.where, "inputGateRecursionMatrix", h));
  append(wh,
         weights(w.forget_gate_recursion_matrix(), hh, l.where, "forgetGateRecursionMatrix", h));
  append(wh,
         weights(w.output_gate_recursion_matrix(), hh, l.where, "outputGateRecursionMatrix", h));
  append(wh,
         weights(w.block_input_recursion_matrix(), hh, l.where, "blockInputRecursionMatrix", h));
  LstmConstants c;
  c.weight_ih = l.emit.constant({4 * h, in}, wi);
  c.weight_hh = l.emit.constant({4 * h, h}, wh);
  std::vector<float> b(static_cast<size_t>(4 * h), 0.0f);
  if (p.has_bias_vectors()) {
    b.clear();
    append(b, weights(w.input_gate_bias_vector(), h, l.where, "inputGateBiasVector"));
    append(b, weights(w.forget_gate_bias_vector(), h, l.where, "forgetGateBiasVector"));
    append(b, weights(w.output_gate_bias_vector(), h, l.where, "outputGateBiasVector"));
    append(b, weights(w.block_input_bias_vector(), h, l.where, "blockInputBiasVector"));
  }
  if (p.forget_bias()) {  // adds 1 to the forget gate's bias
    for (int64_t j = 0; j < h; ++j) b[static_cast<size_t>(h + j)] += 1.0f;
  }
  c.bias = l.emit.constant({4 * h}, b);
  if (p.has_peephole_vectors()) {
    std::vector<float> ph;
    append(ph, weights(w.input_gate_peephole_vector(), h, l.where, "inputGatePeepholeVector"));
    append(ph, weights(w.forget_gate_peephole_vector(), h, l.where, "forgetGatePeepholeVector"));
    append(ph, weights(w.output_gate_peephole_vector(), h, l.where, "outputGatePeepholeVector"));
    c.peephole = l.emit.constant({3 * h}, ph);
  }
  return c;
}

// [1, B, H, 1, 1] state input -> [B, H]; absent -> zeros [B, width] shaped after x [S, B, I].
std::string initial_state(Layer& l, size_t input, const std::string& x3, int64_t width) {
  if (input < l.inputs.size()) {
    if (l.input(input).rank != 5) l.where.fail("state inputs must have rank 5");
    return l.emit.op("squeeze", {{"x", var(l.input(input).name)}, {"axes", lit_ints({0, 3, 4})}});
  }
  const auto i32 = mil::DataType::kInt32;
  const std::string s = l.emit.op("shape", {{"x", var(x3)}}, {}, i32);
  const std::string b = l.emit.op(
      "slice_by_index", {{"x", var(s)}, {"begin", lit_ints({1})}, {"end", lit_ints({2})}}, {}, i32);
  const std::string shape = l.emit.op("concat",
                                      {{"values", var(b)},
                                       {"values", lit_ints({width})},
                                       {"axis", lit_int(0)},
                                       {"interleave", lit_bool(false)}},
                                      {}, i32);
  return l.emit.op("fill", {{"shape", var(shape)}, {"value", lit_float(0)}});
}

void check_activations(Layer& l,
                       const google::protobuf::RepeatedPtrField<spec::ActivationParams>& a,
                       std::vector<std::pair<std::string, Arg>>& args, const char* suffix) {
  if (a.size() != 3) l.where.fail("activations must list 3 functions, got ", a.size());
  if (suffix[0] != '\0') {
    if (recurrent_activation_name(l, a[0]) != args[0].second.value->as_string() ||
        recurrent_activation_name(l, a[1]) != args[1].second.value->as_string() ||
        recurrent_activation_name(l, a[2]) != args[2].second.value->as_string()) {
      l.where.unsupported("different activations for the two directions");
    }
    return;
  }
  args.push_back({"recurrent_activation", lit_string(recurrent_activation_name(l, a[0]))});
  args.push_back({"cell_activation", lit_string(recurrent_activation_name(l, a[1]))});
  args.push_back({"activation", lit_string(recurrent_activation_name(l, a[2]))});
}

// Outputs: y [S or 1, B, dirs * H, 1, 1], then per direction h and c [1, B, H, 1, 1].
std::vector<Blob> lstm(Layer& l, bool bidirectional) {
  const auto& p = bidirectional ? l.proto.bi_directional_lstm().params()
                                : l.proto.uni_directional_lstm().params();
  const uint64_t in_size = bidirectional ? l.proto.bi_directional_lstm().input_vector_size()
                                         : l.proto.uni_directional_lstm().input_vector_size();
  const uint64_t out_size = bidirectional ? l.proto.bi_directional_lstm().output_vector_size()
                                          : l.proto.uni_directional_lstm().output_vector_size();
  const int64_t in = checked_size(in_size, l.where, "inputVectorSize");
  const int64_t h = checked_size(out_size, l.where, "outputVectorSize");
  if (in < 1 || h < 1) l.where.fail("inputVectorSize and outputVectorSize must be positive");
  const size_t states = bidirectional ? 4 : 2;
  l.expect_inputs(1, 1 + states);
  if (l.outputs.size() != 1 && l.outputs.size() != 1 + states) {
    l.where.fail("produces 1 or ", 1 + states, " outputs, got ", l.outputs.size());
  }
  if (l.inputs.size() != 1 && l.inputs.size() != 1 + states) {
    l.where.fail("takes 1 or ", 1 + states, " inputs, got ", l.inputs.size());
  }
  if (l.input().rank != 5) l.where.fail("input must have rank 5 [Seq, Batch, C, 1, 1]");
  if (p.coupled_input_and_forget_gate()) {
    l.where.unsupported("coupledInputAndForgetGate");
  }
  const std::string x3 =
      l.emit.op("squeeze", {{"x", var(l.input().name)}, {"axes", lit_ints({3, 4})}});
  std::vector<std::pair<std::string, Arg>> args{{"x", var(x3)}};
  std::vector<LstmConstants> dirs;
  if (bidirectional) {
    const auto& b = l.proto.bi_directional_lstm();
    if (b.weight_params().size() != 2) l.where.fail("weightParams must hold 2 directions");
    dirs.push_back(lstm_constants(l, b.weight_params(0), p, in, h));
    dirs.push_back(lstm_constants(l, b.weight_params(1), p, in, h));
  } else {
    dirs.push_back(lstm_constants(l, l.proto.uni_directional_lstm().weight_params(), p, in, h));
  }
  std::vector<std::pair<std::string, Arg>> acts;
  if (bidirectional) {
    check_activations(l, l.proto.bi_directional_lstm().activations_forward_lstm(), acts, "");
    check_activations(l, l.proto.bi_directional_lstm().activations_backward_lstm(), acts, "b");
  } else {
    check_activations(l, l.proto.uni_directional_lstm().activations(), acts, "");
  }
  args.insert(args.end(), acts.begin(), acts.end());
  args.push_back({"weight_ih", var(dirs[0].weight_ih)});
  args.push_back({"weight_hh", var(dirs[0].weight_hh)});
  args.push_back({"bias", var(dirs[0].bias)});
  if (!dirs[0].peephole.empty()) args.push_back({"peephole", var(dirs[0].peephole)});
  if (bidirectional) {
    args.push_back({"weight_ih_back", var(dirs[1].weight_ih)});
    args.push_back({"weight_hh_back", var(dirs[1].weight_hh)});
    args.push_back({"bias_back", var(dirs[1].bias)});
    if (!dirs[1].peephole.empty()) args.push_back({"peephole_back", var(dirs[1].peephole)});
  }
  std::string direction = "forward";
  if (bidirectional) {
    direction = "bidirectional";
  } else if (l.proto.uni_directional_lstm().reverse_input()) {
    direction = "reverse";
  }
  args.push_back({"direction", lit_string(direction)});
  args.push_back({"output_sequence", lit_bool(p.sequence_output())});
  // 0 stands for the default threshold, 50.
  args.push_back(
      {"clip", lit_float(p.cell_clip_threshold() == 0 ? 50.0f : p.cell_clip_threshold())});
  // Initial states: [B, dirs * H] (the backward half after the forward one).
  std::string h0 = initial_state(l, 1, x3, bidirectional ? 2 * h : h);
  std::string c0 = initial_state(l, 2, x3, bidirectional ? 2 * h : h);
  if (bidirectional && l.inputs.size() > 1) {
    const std::string hb = initial_state(l, 3, x3, h);
    const std::string cb = initial_state(l, 4, x3, h);
    const auto join = [&](const std::string& a, const std::string& b) {
      return l.emit.op("concat", {{"values", var(a)},
                                  {"values", var(b)},
                                  {"axis", lit_int(1)},
                                  {"interleave", lit_bool(false)}});
    };
    h0 = join(h0, hb);
    c0 = join(c0, cb);
  }
  args.push_back({"initial_h", var(h0)});
  args.push_back({"initial_c", var(c0)});
  const auto results = l.emit.op_n("lstm", std::move(args), {"", "", ""});
  std::vector<Blob> out{
      {l.emit.op("expand_dims", {{"x", var(results[0])}, {"axes", lit_ints({3, 4})}}, l.outputs[0]),
       5}};
  if (l.outputs.size() == 1) return out;
  const auto state_out = [&](const std::string& state, size_t name) {
    return Blob{l.emit.op("expand_dims", {{"x", var(state)}, {"axes", lit_ints({0, 3, 4})}},
                          l.outputs[name]),
                5};
  };
  if (!bidirectional) {
    out.push_back(state_out(results[1], 1));
    out.push_back(state_out(results[2], 2));
    return out;
  }
  const auto halves = [&](const std::string& state) {
    return l.emit.op_n(
        "split", {{"x", var(state)}, {"num_splits", lit_int(2)}, {"axis", lit_int(1)}}, {"", ""});
  };
  const auto hs = halves(results[1]);
  const auto cs = halves(results[2]);
  out.push_back(state_out(hs[0], 1));
  out.push_back(state_out(cs[0], 2));
  out.push_back(state_out(hs[1], 3));
  out.push_back(state_out(cs[1], 4));
  return out;
}

// The [Seq, Batch, C] view of a recurrent layer's rank-5 input.
std::string sequence_view(Layer& l) {
  if (l.input().rank != 5) l.where.fail("input must have rank 5 [Seq, Batch, C, 1, 1]");
  return l.emit.op("squeeze", {{"x", var(l.input().name)}, {"axes", lit_ints({3, 4})}});
}

// Outputs y [S or 1, B, H, 1, 1] and optionally the last state [1, B, H, 1, 1].
std::vector<Blob> sequence_outputs(Layer& l, const std::vector<std::string>& results) {
  std::vector<Blob> out{
      {l.emit.op("expand_dims", {{"x", var(results[0])}, {"axes", lit_ints({3, 4})}}, l.outputs[0]),
       5}};
  if (l.outputs.size() == 2) {
    out.push_back({l.emit.op("expand_dims", {{"x", var(results[1])}, {"axes", lit_ints({0, 3, 4})}},
                             l.outputs[1]),
                   5});
  }
  return out;
}

std::vector<Blob> gru(Layer& l) {
  const auto& p = l.proto.gru();
  l.expect_inputs(1, 2);
  if (l.outputs.size() != 1 && l.outputs.size() != 2) l.where.fail("produces 1 or 2 outputs");
  const int64_t in = checked_size(p.input_vector_size(), l.where, "inputVectorSize");
  const int64_t h = checked_size(p.output_vector_size(), l.where, "outputVectorSize");
  if (in < 1 || h < 1) l.where.fail("inputVectorSize and outputVectorSize must be positive");
  if (p.activations().size() != 2) {
    l.where.fail("activations must list 2 functions, got ", p.activations().size());
  }
  const std::string x3 = sequence_view(l);
  const int64_t ih = checked_product({h, in}, l.where, "weight matrix");
  const int64_t hh = checked_product({h, h}, l.where, "recursion matrix");
  std::vector<float> wi, wh, b;
  // MIL order: reset, output, update.
  append(wi, weights(p.reset_gate_weight_matrix(), ih, l.where, "resetGateWeightMatrix", h));
  append(wi, weights(p.output_gate_weight_matrix(), ih, l.where, "outputGateWeightMatrix", h));
  append(wi, weights(p.update_gate_weight_matrix(), ih, l.where, "updateGateWeightMatrix", h));
  append(wh, weights(p.reset_gate_recursion_matrix(), hh, l.where, "resetGateRecursionMatrix", h));
  append(wh,
         weights(p.output_gate_recursion_matrix(), hh, l.where, "outputGateRecursionMatrix", h));
  append(wh,
         weights(p.update_gate_recursion_matrix(), hh, l.where, "updateGateRecursionMatrix", h));
  if (p.has_bias_vectors()) {
    append(b, weights(p.reset_gate_bias_vector(), h, l.where, "resetGateBiasVector"));
    append(b, weights(p.output_gate_bias_vector(), h, l.where, "outputGateBiasVector"));
    append(b, weights(p.update_gate_bias_vector(), h, l.where, "updateGateBiasVector"));
  } else {
    b.assign(static_cast<size_t>(3 * h), 0.0f);
  }
  const auto results = l.emit.op_n(
      "gru",
      {{"x", var(x3)},
       {"initial_h", var(initial_state(l, 1, x3, h))},
       {"weight_ih", var(l.emit.constant({3 * h, in}, wi))},
       {"weight_hh", var(l.emit.constant({3 * h, h}, wh))},
       {"bias", var(l.emit.constant({3 * h}, b))},
       {"direction", lit_string(p.reverse_input() ? "reverse" : "forward")},
       {"output_sequence", lit_bool(p.sequence_output())},
       {"recurrent_activation", lit_string(recurrent_activation_name(l, p.activations(0)))},
       {"activation", lit_string(recurrent_activation_name(l, p.activations(1)))}},
      {"", ""});
  return sequence_outputs(l, results);
}

std::vector<Blob> simple_recurrent(Layer& l) {
  const auto& p = l.proto.simple_recurrent();
  l.expect_inputs(1, 2);
  if (l.outputs.size() != 1 && l.outputs.size() != 2) l.where.fail("produces 1 or 2 outputs");
  const int64_t in = checked_size(p.input_vector_size(), l.where, "inputVectorSize");
  const int64_t h = checked_size(p.output_vector_size(), l.where, "outputVectorSize");
  if (in < 1 || h < 1) l.where.fail("inputVectorSize and outputVectorSize must be positive");
  const std::string x3 = sequence_view(l);
  const int64_t ih = checked_product({h, in}, l.where, "weightMatrix");
  const int64_t hh = checked_product({h, h}, l.where, "recursionMatrix");
  std::vector<float> b(static_cast<size_t>(h), 0.0f);
  if (p.use_bias_vector()) b = weights(p.bias_vector(), h, l.where, "biasVector");
  const auto results = l.emit.op_n(
      "rnn",
      {{"x", var(x3)},
       {"initial_h", var(initial_state(l, 1, x3, h))},
       {"weight_ih",
        var(l.emit.constant({h, in}, weights(p.weight_matrix(), ih, l.where, "weightMatrix", h)))},
       {"weight_hh", var(l.emit.constant({h, h}, weights(p.recursion_matrix(), hh, l.where,
                                                         "recursionMatrix", h)))},
       {"bias", var(l.emit.constant({h}, b))},
       {"direction", lit_string(p.reverse_input() ? "reverse" : "forward")},
       {"output_sequence", lit_bool(p.sequence_output())},
       {"activation", lit_string(recurrent_activation_name(l, p.activation()))}},
      {"", ""});
  return sequence_outputs(l, results);
}

}  // namespace

std::vector<Blob> translate_recurrent(Layer& l) {
  switch (l.proto.layer_case()) {
    case L::kUniDirectionalLstm: return lstm(l, false);
    case L::kBiDirectionalLstm: return lstm(l, true);
    case L::kGru: return gru(l);
    case L::kSimpleRecurrent: return simple_recurrent(l);
    default: break;
  }
  l.where.unsupported("not a recurrent layer");
}

}  // namespace coreml::format::nn
