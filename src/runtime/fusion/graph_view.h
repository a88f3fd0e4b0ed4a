// An index over a function's top-level ops for the fusion passes: who produces a value, who
// reads it and how often, what constants and declared shapes are, and a rewrite primitive
// that replaces a set of ops by one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mil/ir.h"

namespace coreml::runtime::fusion {

class GraphView {
 public:
  explicit GraphView(mil::Function& function);
  void reindex();

  size_t size() const { return block_.operations.size(); }
  const mil::Operation& op(size_t i) const { return block_.operations[i]; }

  // ---- values ----
  std::optional<size_t> producer(const std::string& name) const;  // top-level op index
  int uses(const std::string& name) const;  // every binding (nested too) + block outputs
  std::vector<size_t> users(const std::string& name) const;  // top-level ops reading it
  int rank_of(const std::string& name) const;                // -1 when unknown
  std::optional<std::vector<int64_t>> static_shape(const std::string& name) const;
  std::optional<mil::DataType> tensor_dtype(const std::string& name) const;  // tensors only

  // ---- inputs of an op ----
  bool has_input(const mil::Operation& op, const std::string& param) const;
  size_t binding_count(const mil::Operation& op, const std::string& param) const;
  std::optional<std::string> input_name(const mil::Operation& op, const std::string& param,
                                        size_t index = 0) const;
  std::optional<mil::Binding> input_binding(const mil::Operation& op,
                                            const std::string& param) const;
  // The constant bound to `param` (a literal, or a const op's immediate value).
  std::optional<mil::Value> constant_value(const mil::Operation& op,
                                           const std::string& param) const;
  std::optional<int64_t> constant_int(const mil::Operation& op, const std::string& param) const;
  std::optional<std::vector<int64_t>> constant_ints(const mil::Operation& op,
                                                    const std::string& param) const;
  // A one-element numeric constant.
  std::optional<mil::Value> constant_scalar(const mil::Operation& op,
                                            const std::string& param) const;
  bool is_constant(const mil::Binding& b) const;

  // ---- patterns ----
  // Op `at` is mul(name, c) or mul(c, name) with c a scalar constant equal to `factor`.
  bool is_scaled_by(size_t at, const std::string& name, double factor) const;
  // The operand of binary `op` other than `name`.
  std::optional<mil::Binding> other_operand(const mil::Operation& op,
                                            const std::string& name) const;
  // `b` is a constant of h elements laid along the last axis (shape [h] or [1, ..., h]).
  bool broadcasts_along_last(const mil::Binding& b, int64_t h) const;
  // slice_by_index `op` over a tensor of `in_shape` selects exactly out_shape, starting at 0 on
  // every axis but the last, where it starts at `last_offset`; unit strides, no squeeze.
  bool slice_selects(const mil::Operation& op, const std::vector<int64_t>& in_shape,
                     const std::vector<int64_t>& out_shape, int64_t last_offset = 0) const;
  // `name` = reshape(tile(expand_dims(source, axes=[2]), reps=[1, 1, g, 1, 1]), [B, H*g, S, D])
  // with single-use intermediates: the source, g and the three ops.
  bool repeated_heads(const std::string& name, std::string* source, int64_t* group,
                      std::vector<size_t>* chain) const;

  // ---- rewriting ----
  mil::Operation make_op(const std::string& type, const mil::Operation& like) const;
  static mil::Binding binding_of(const std::string& name);
  static mil::Binding float_literal(mil::DataType dtype, double value);
  static mil::Binding int_literal(int64_t value);
  // Schedules the removal of the ops at `removed` (which contains `at`) and puts `replacement`
  // where op `at` was; false (nothing scheduled) when one of them is already part of another
  // scheduled rewrite. The index stays valid until commit(), which applies every rewrite.
  bool replace(const std::vector<size_t>& removed, size_t at, mil::Operation replacement);
  // Applies the scheduled rewrites; true if there were any. Reindexes.
  bool commit();

 private:
  const mil::Type* type_of(const std::string& name) const;

  mil::Function& function_;
  mil::Block& block_;
  std::map<std::string, size_t> producers_;
  std::map<std::string, const mil::Type*> types_;
  std::map<std::string, int> uses_;
  std::map<std::string, std::vector<size_t>> users_;
  std::vector<bool> consumed_;                     // by scheduled rewrites
  std::map<size_t, mil::Operation> replacements_;  // op index -> what takes its place
};

}  // namespace coreml::runtime::fusion
