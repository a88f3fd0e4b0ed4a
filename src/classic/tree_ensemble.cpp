// Tree ensembles: checking, flattening and walking the trees.
#include "classic/tree_ensemble.h"

#include <cmath>
#include <map>
#include <utility>

#include "classic/features.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

// TreeNodeBehavior codes (coremltools 9.0, TreeEnsemble_pb2).
enum Behavior {
  kLessEqual = 0,
  kLess = 1,
  kGreaterEqual = 2,
  kGreater = 3,
  kEqual = 4,
  kNotEqual = 5,
  kLeaf = 6,
};

bool branch_taken(int behavior, double x, double threshold) {
  switch (behavior) {
    case kLessEqual: return x <= threshold;
    case kLess: return x < threshold;
    case kGreaterEqual: return x >= threshold;
    case kGreater: return x > threshold;
    case kEqual: return x == threshold;
    default: return x != threshold;  // kNotEqual
  }
}

}  // namespace

TreeEnsemble::TreeEnsemble(const spec::TreeEnsembleParameters& params, const std::string& where)
    : where_(where) {
  const uint64_t dims = params.num_prediction_dimensions();
  if (dims == 0 || dims > static_cast<uint64_t>(kMaxVectorLength)) {
    fail(ErrorCode::kParse, where, ": numPredictionDimensions is ", dims, ", expected 1..",
         kMaxVectorLength);
  }
  if (params.base_prediction_value_size() != 0 &&
      static_cast<uint64_t>(params.base_prediction_value_size()) != dims) {
    fail(ErrorCode::kParse, where, ": ", params.base_prediction_value_size(),
         " basePredictionValue entries for ", dims, " prediction dimensions");
  }
  base_.assign(dims, 0.0);
  for (int i = 0; i < params.base_prediction_value_size(); ++i) {
    base_[static_cast<size_t>(i)] = params.base_prediction_value(i);
  }
  if (params.nodes_size() == 0) fail(ErrorCode::kParse, where, ": the ensemble has no nodes");

  // (tree, node id) -> index; then children resolved and checked.
  std::map<std::pair<uint64_t, uint64_t>, int64_t> index;
  for (int i = 0; i < params.nodes_size(); ++i) {
    const auto& n = params.nodes(i);
    if (!index.emplace(std::make_pair(n.tree_id(), n.node_id()), i).second) {
      fail(ErrorCode::kParse, where, ": node ", n.node_id(), " of tree ", n.tree_id(),
           " is declared twice");
    }
  }
  nodes_.resize(static_cast<size_t>(params.nodes_size()));
  std::vector<int> parents(nodes_.size(), 0);
  auto child = [&](const spec::TreeEnsembleParameters::TreeNode& n, uint64_t id) -> int64_t {
    const auto it = index.find({n.tree_id(), id});
    if (it == index.end()) {
      fail(ErrorCode::kParse, where, ": node ", n.node_id(), " of tree ", n.tree_id(),
           ": child node ", id, " does not exist in that tree");
    }
    if (++parents[static_cast<size_t>(it->second)] > 1) {
      fail(ErrorCode::kParse, where, ": node ", id, " of tree ", n.tree_id(),
           " is the child of more than one branch (trees only)");
    }
    return it->second;
  };
  for (int i = 0; i < params.nodes_size(); ++i) {
    const auto& n = params.nodes(i);
    Node& node = nodes_[static_cast<size_t>(i)];
    node.behavior = n.behavior();
    check_range(node.behavior, kLessEqual, kLeaf, where, "nodeBehavior");
    if (node.behavior == kLeaf) {
      node.eval_begin = static_cast<uint32_t>(evaluations_.size());
      for (const auto& e : n.evaluation_info()) {
        if (e.evaluation_index() >= dims) {
          fail(ErrorCode::kParse, where, ": node ", n.node_id(), " of tree ", n.tree_id(),
               ": evaluationIndex ", e.evaluation_index(), " is beyond the ", dims,
               " prediction dimensions");
        }
        evaluations_.emplace_back(e.evaluation_index(), e.evaluation_value());
      }
      node.eval_end = static_cast<uint32_t>(evaluations_.size());
      continue;
    }
    if (n.branch_feature_index() >= static_cast<uint64_t>(kMaxVectorLength)) {
      fail(ErrorCode::kParse, where, ": node ", n.node_id(), " of tree ", n.tree_id(),
           ": branchFeatureIndex ", n.branch_feature_index(), " is out of range");
    }
    node.feature = n.branch_feature_index();
    node.threshold = n.branch_feature_value();
    node.missing_goes_true = n.missing_value_tracks_true_child();
    node.true_child = child(n, n.true_child_node_id());
    node.false_child = child(n, n.false_child_node_id());
    max_feature_ = std::max(max_feature_, node.feature);
    has_branches_ = true;
  }
  // Each tree has exactly one node without a parent: its root. With at most one parent per
  // node, the walk from a root never meets a node twice, so it ends.
  std::map<uint64_t, int64_t> root_of_tree;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const auto tree = params.nodes(static_cast<int>(i)).tree_id();
    if (parents[i] != 0) {
      root_of_tree.try_emplace(tree, -1);
      continue;
    }
    const auto [it, inserted] = root_of_tree.try_emplace(tree, static_cast<int64_t>(i));
    if (!inserted && it->second >= 0) {
      fail(ErrorCode::kParse, where, ": tree ", tree, " has more than one root (nodes ",
           params.nodes(static_cast<int>(it->second)).node_id(), " and ",
           params.nodes(static_cast<int>(i)).node_id(), " have no parent)");
    }
    it->second = static_cast<int64_t>(i);
  }
  for (const auto& [tree, root] : root_of_tree) {
    if (root < 0) fail(ErrorCode::kParse, where, ": tree ", tree, " has no root (a cycle)");
    roots_.push_back(root);
  }
}

std::vector<double> TreeEnsemble::predict(const std::vector<double>& x) const {
  if (has_branches_ && max_feature_ >= x.size()) {
    fail(ErrorCode::kInvalidArgument, where_, ": a branch reads input element ", max_feature_,
         ", but the input has ", x.size());
  }
  std::vector<double> out = base_;
  for (int64_t index : roots_) {
    const Node* node = &nodes_[static_cast<size_t>(index)];
    while (node->behavior != kLeaf) {
      const double value = x[node->feature];
      const bool go_true = std::isnan(value) ? node->missing_goes_true
                                             : branch_taken(node->behavior, value, node->threshold);
      node = &nodes_[static_cast<size_t>(go_true ? node->true_child : node->false_child)];
    }
    for (uint32_t e = node->eval_begin; e < node->eval_end; ++e) {
      out[evaluations_[e].first] += evaluations_[e].second;
    }
  }
  return out;
}

}  // namespace coreml::classic
