#include "runtime/fusion/graph_view.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

namespace coreml::runtime::fusion {

GraphView::GraphView(mil::Function& function) : function_(function), block_(function.block) {
  reindex();
}

void GraphView::reindex() {
  producers_.clear();
  types_.clear();
  uses_.clear();
  users_.clear();
  for (const auto& input : function_.inputs) types_[input.name] = &input.type;
  std::function<void(const mil::Block&, bool, size_t)> walk = [&](const mil::Block& b, bool top,
                                                                  size_t owner) {
    for (size_t i = 0; i < b.operations.size(); ++i) {
      const mil::Operation& op = b.operations[i];
      const size_t index = top ? i : owner;
      for (const auto& [param, arg] : op.inputs) {
        for (const auto& binding : arg.bindings) {
          if (binding.value) continue;
          ++uses_[binding.name];
          auto& list = users_[binding.name];
          if (list.empty() || list.back() != index) list.push_back(index);
        }
      }
      for (const auto& nested : op.blocks) walk(nested, false, index);
      for (const auto& out : op.outputs) {
        types_[out.name] = &out.type;
        if (top) producers_[out.name] = i;
      }
    }
    for (const auto& name : b.outputs) ++uses_[name];
  };
  walk(block_, true, 0);
}

std::optional<size_t> GraphView::producer(const std::string& name) const {
  const auto it = producers_.find(name);
  if (it == producers_.end()) return std::nullopt;
  return it->second;
}

int GraphView::uses(const std::string& name) const {
  const auto it = uses_.find(name);
  return it == uses_.end() ? 0 : it->second;
}

std::vector<size_t> GraphView::users(const std::string& name) const {
  const auto it = users_.find(name);
  return it == users_.end() ? std::vector<size_t>{} : it->second;
}

const mil::Type* GraphView::type_of(const std::string& name) const {
  const auto it = types_.find(name);
  return it == types_.end() ? nullptr : it->second;
}

int GraphView::rank_of(const std::string& name) const {
  const mil::Type* t = type_of(name);
  if (!t || t->kind != mil::Type::Kind::kTensor || !t->tensor.shape) return -1;
  return static_cast<int>(t->tensor.shape->size());
}

std::optional<mil::DataType> GraphView::tensor_dtype(const std::string& name) const {
  const mil::Type* t = type_of(name);
  if (!t || t->kind != mil::Type::Kind::kTensor) return std::nullopt;
  return t->tensor.dtype;
}

std::optional<std::vector<int64_t>> GraphView::static_shape(const std::string& name) const {
  const mil::Type* t = type_of(name);
  if (!t || t->kind != mil::Type::Kind::kTensor || !t->tensor.shape) return std::nullopt;
  std::vector<int64_t> shape;
  for (const auto& d : *t->tensor.shape) {
    if (!d.known()) return std::nullopt;
    shape.push_back(d.size);
  }
  return shape;
}

bool GraphView::has_input(const mil::Operation& op, const std::string& param) const {
  return binding_count(op, param) > 0;
}

size_t GraphView::binding_count(const mil::Operation& op, const std::string& param) const {
  const auto it = op.inputs.find(param);
  return it == op.inputs.end() ? 0 : it->second.bindings.size();
}

std::optional<std::string> GraphView::input_name(const mil::Operation& op, const std::string& param,
                                                 size_t index) const {
  const auto it = op.inputs.find(param);
  if (it == op.inputs.end() || index >= it->second.bindings.size()) return std::nullopt;
  const mil::Binding& b = it->second.bindings[index];
  if (b.value) return std::nullopt;
  return b.name;
}

std::optional<mil::Binding> GraphView::input_binding(const mil::Operation& op,
                                                     const std::string& param) const {
  const auto it = op.inputs.find(param);
  if (it == op.inputs.end() || it->second.bindings.size() != 1) return std::nullopt;
  return it->second.bindings[0];
}

std::optional<mil::Value> GraphView::constant_value(const mil::Operation& op,
                                                    const std::string& param) const {
  const auto it = op.inputs.find(param);
  if (it == op.inputs.end() || it->second.bindings.size() != 1) return std::nullopt;
  const mil::Binding& b = it->second.bindings[0];
  if (b.value) {
    if (b.value->kind != mil::Value::Kind::kTensor) return std::nullopt;
    return *b.value;
  }
  const auto p = producer(b.name);
  if (!p) return std::nullopt;
  const mil::Operation& c = block_.operations[*p];
  if (c.type != "const") return std::nullopt;
  const auto val = c.attributes.find("val");
  if (val == c.attributes.end() || val->second.kind != mil::Value::Kind::kTensor)
    return std::nullopt;
  return val->second;
}

std::optional<int64_t> GraphView::constant_int(const mil::Operation& op,
                                               const std::string& param) const {
  const auto v = constant_value(op, param);
  if (!v || v->element_count() != 1 || v->type.tensor.dtype == mil::DataType::kString) {
    return std::nullopt;
  }
  return v->as_int(0);
}

std::optional<std::vector<int64_t>> GraphView::constant_ints(const mil::Operation& op,
                                                             const std::string& param) const {
  const auto v = constant_value(op, param);
  if (!v || v->element_count() < 0 || v->type.tensor.dtype == mil::DataType::kString) {
    return std::nullopt;
  }
  std::vector<int64_t> out;
  for (int64_t i = 0; i < v->element_count(); ++i) out.push_back(v->as_int(i));
  return out;
}

std::optional<mil::Value> GraphView::constant_scalar(const mil::Operation& op,
                                                     const std::string& param) const {
  const auto v = constant_value(op, param);
  if (!v || v->element_count() != 1 || v->type.tensor.dtype == mil::DataType::kString ||
      v->type.tensor.dtype == mil::DataType::kBool) {
    return std::nullopt;
  }
  return v;
}

bool GraphView::is_constant(const mil::Binding& b) const {
  if (b.value) return true;
  const auto p = producer(b.name);
  return p && block_.operations[*p].type == "const";
}

bool GraphView::is_scaled_by(size_t at, const std::string& name, double factor) const {
  const mil::Operation& op = block_.operations[at];
  if (op.type != "mul") return false;
  for (const char* s : {"x", "y"}) {
    const auto n = input_name(op, s);
    const auto c = constant_scalar(op, s[0] == 'x' ? "y" : "x");
    if (n && *n == name && c && c->as_double(0) == factor) return true;
  }
  return false;
}

std::optional<mil::Binding> GraphView::other_operand(const mil::Operation& op,
                                                     const std::string& name) const {
  const auto x = input_binding(op, "x");
  const auto y = input_binding(op, "y");
  if (!x || !y) return std::nullopt;
  if (!x->value && x->name == name && !(!y->value && y->name == name)) return y;
  if (!y->value && y->name == name && !(!x->value && x->name == name)) return x;
  return std::nullopt;
}

bool GraphView::broadcasts_along_last(const mil::Binding& b, int64_t h) const {
  std::vector<int64_t> shape;
  if (b.value) {
    if (!b.value->type.tensor.shape) return false;
    for (const auto& d : *b.value->type.tensor.shape) shape.push_back(d.size);
  } else {
    const auto s = static_shape(b.name);
    if (!s) return false;
    shape = *s;
  }
  if (shape.empty() || shape.back() != h) return false;
  for (size_t i = 0; i + 1 < shape.size(); ++i) {
    if (shape[i] != 1) return false;
  }
  return true;
}

bool GraphView::slice_selects(const mil::Operation& op, const std::vector<int64_t>& in_shape,
                              const std::vector<int64_t>& out_shape, int64_t last_offset) const {
  if (op.type != "slice_by_index" || in_shape.size() != out_shape.size()) return false;
  const size_t rank = in_shape.size();
  const auto begin = constant_ints(op, "begin");
  const auto end = constant_ints(op, "end");
  if (!begin || !end || begin->size() != rank || end->size() != rank) return false;
  const auto all = [&](const char* param, int64_t value) {
    if (!has_input(op, param)) return true;
    const auto v = constant_ints(op, param);
    if (!v || v->size() != rank) return false;
    return std::all_of(v->begin(), v->end(), [&](int64_t x) { return x == value; });
  };
  if (!all("stride", 1) || !all("squeeze_mask", 0)) return false;
  const auto begin_mask =
      has_input(op, "begin_mask") ? constant_ints(op, "begin_mask") : std::vector<int64_t>(rank, 0);
  const auto end_mask =
      has_input(op, "end_mask") ? constant_ints(op, "end_mask") : std::vector<int64_t>(rank, 0);
  if (!begin_mask || !end_mask || begin_mask->size() != rank || end_mask->size() != rank) {
    return false;
  }
  for (size_t d = 0; d < rank; ++d) {
    const int64_t n = in_shape[d];
    const auto wrap = [n](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + n : v, 0, n); };
    const int64_t s = (*begin_mask)[d] ? 0 : wrap((*begin)[d]);
    const int64_t e = (*end_mask)[d] ? n : wrap((*end)[d]);
    const int64_t want_start = d + 1 == rank ? last_offset : 0;
    if (s != want_start || std::max<int64_t>(0, e - s) != out_shape[d]) return false;
  }
  return true;
}

bool GraphView::repeated_heads(const std::string& name, std::string* source, int64_t* group,
                               std::vector<size_t>* chain) const {
  if (uses(name) != 1) return false;
  const auto r_at = producer(name);
  if (!r_at || block_.operations[*r_at].type != "reshape") return false;
  const auto tiled = input_name(block_.operations[*r_at], "x");
  if (!tiled || uses(*tiled) != 1) return false;
  const auto t_at = producer(*tiled);
  if (!t_at || block_.operations[*t_at].type != "tile") return false;
  const auto reps = constant_ints(block_.operations[*t_at], "reps");
  const auto expanded = input_name(block_.operations[*t_at], "x");
  if (!reps || !expanded || uses(*expanded) != 1 || reps->size() != 5) return false;
  if ((*reps)[0] != 1 || (*reps)[1] != 1 || (*reps)[3] != 1 || (*reps)[4] != 1 || (*reps)[2] < 1) {
    return false;
  }
  const auto e_at = producer(*expanded);
  if (!e_at || block_.operations[*e_at].type != "expand_dims") return false;
  const auto axes = constant_ints(block_.operations[*e_at], "axes");
  if (!axes || axes->size() != 1 || ((*axes)[0] != 2 && (*axes)[0] != -3)) return false;
  const auto src = input_name(block_.operations[*e_at], "x");
  if (!src) return false;
  const auto in = static_shape(*src);
  const auto out = static_shape(name);
  if (!in || !out || in->size() != 4 || out->size() != 4) return false;
  const int64_t g = (*reps)[2];
  if ((*out)[0] != (*in)[0] || (*out)[1] != (*in)[1] * g || (*out)[2] != (*in)[2] ||
      (*out)[3] != (*in)[3]) {
    return false;
  }
  *source = *src;
  *group = g;
  *chain = {*e_at, *t_at, *r_at};
  return true;
}

mil::Operation GraphView::make_op(const std::string& type, const mil::Operation& like) const {
  mil::Operation op;
  op.type = type;
  op.location = like.location;
  const auto name = like.attributes.find("name");
  if (name != like.attributes.end()) op.attributes["name"] = name->second;
  return op;
}

mil::Binding GraphView::binding_of(const std::string& name) {
  mil::Binding b;
  b.name = name;
  return b;
}

mil::Binding GraphView::float_literal(mil::DataType dtype, double value) {
  mil::Binding b;
  b.value = mil::Value::float_scalar(dtype, value);
  return b;
}

mil::Binding GraphView::int_literal(int64_t value) {
  mil::Binding b;
  b.value = mil::Value::int_scalar(mil::DataType::kInt32, value);
  return b;
}

bool GraphView::replace(const std::vector<size_t>& removed, size_t at, mil::Operation replacement) {
  consumed_.resize(block_.operations.size(), false);
  for (size_t i : removed) {
    if (consumed_[i]) return false;
  }
  for (size_t i : removed) consumed_[i] = true;
  replacements_.emplace(at, std::move(replacement));
  return true;
}

bool GraphView::commit() {
  if (replacements_.empty()) return false;
  std::vector<mil::Operation> ops;
  ops.reserve(block_.operations.size());
  for (size_t i = 0; i < block_.operations.size(); ++i) {
    const auto r = replacements_.find(i);
    if (r != replacements_.end()) {
      ops.push_back(std::move(r->second));
    } else if (i >= consumed_.size() || !consumed_[i]) {
      ops.push_back(std::move(block_.operations[i]));
    }
  }
  block_.operations = std::move(ops);
  replacements_.clear();
  consumed_.clear();
  reindex();
  return true;
}

}  // namespace coreml::runtime::fusion
