// What the classic evaluators share: reading their declared inputs and writing their declared
// outputs as Core ML types them, class labels, and bounds checks on protobuf parameters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "classic/evaluator.h"
#include "proto/coreml.pb.h"

namespace coreml::classic {

// Most parameter lists (weights, support vectors, tree nodes, categories) are bounded by the
// protobuf's size; these caps bound what they expand to.
constexpr int64_t kMaxVectorLength = int64_t{1} << 24;  // one feature vector's elements

// A model's declared interface and the name errors use ("model.mlmodel: scaler").
struct Interface {
  Interface(const spec::Model& model, const std::string& source, const char* type);
  std::string where;  // "file: scaler"
  std::vector<const spec::FeatureDescription*> inputs;
  std::vector<const spec::FeatureDescription*> outputs;
  std::string label_output;          // classifiers: predictedFeatureName or the first output
  std::string probabilities_output;  // classifiers: predictedProbabilitiesName, may be ""

  const FeatureValue& input(const Features& features, const std::string& name) const;
  // Every input, in declaration order, as one vector of doubles: int64 and double features give
  // one element, arrays all of theirs in C order (how Core ML numbers feature indices).
  std::vector<double> input_vector(const Features& features) const;
  // The first output, or the one named `name`; fails when the model declares none.
  const spec::FeatureDescription& output(const std::string& name = {}) const;
};

// Stores `values` under output `out` as its declared type: a double or int64 scalar (one
// value), or a multi-array of its declared data type and shape ([n] when it declares none).
void write_numbers(Features& features, const spec::FeatureDescription& out,
                   const std::vector<double>& values, const std::string& where);

// Class labels of a classifier (string or int64).
struct ClassLabels {
  std::vector<std::string> strings;
  std::vector<int64_t> ints;
  bool integer = false;
  size_t size() const { return integer ? ints.size() : strings.size(); }
  FeatureValue label(size_t index) const;
  FeatureValue dictionary(const std::vector<double>& scores) const;
};

template <typename Classic>
ClassLabels class_labels_of(const Classic& classic) {
  ClassLabels labels;
  if (classic.has_int64_class_labels()) {
    labels.integer = true;
    labels.ints.assign(classic.int64_class_labels().vector().begin(),
                       classic.int64_class_labels().vector().end());
  } else {
    labels.strings.assign(classic.string_class_labels().vector().begin(),
                          classic.string_class_labels().vector().end());
  }
  return labels;
}

// A classifier's outputs: the label of `scores`' largest entry (the first on ties) and, when
// declared, the dictionary of scores by label.
void write_classification(Features& features, const Interface& interface, const ClassLabels& labels,
                          const std::vector<double>& scores);

// Fails "<where>: <field> ..." unless lower <= value <= upper.
void check_range(int64_t value, int64_t lower, int64_t upper, const std::string& where,
                 const char* field);

}  // namespace coreml::classic
