// Pipelines and classic models built here field by field: ML Program stages wired to classic
// ones, and hostile parameters (tree node ids and counts, feature indices, dimensions, support
// vectors, nesting) that must fail with a coreml::Error naming the file and the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "coreml/model.h"
#include "proto/coreml.pb.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

constexpr int kDouble = 65600;  // ArrayFeatureType.DOUBLE

std::string write_model(const spec::Model& model, const std::string& name) {
  const fs::path path = fs::temp_directory_path() /
                        ("coreml_classic_" + std::to_string(::getpid()) + "_" + name + ".mlmodel");
  std::ofstream(path, std::ios::binary) << model.SerializeAsString();
  return path.string();
}

void add_array(google::protobuf::RepeatedPtrField<spec::FeatureDescription>* list,
               const std::string& name, int64_t size) {
  auto* f = list->Add();
  f->set_name(name);
  f->mutable_type()->mutable_multi_array_type()->add_shape(size);
  f->mutable_type()->mutable_multi_array_type()->set_data_type(kDouble);
}

void add_double(google::protobuf::RepeatedPtrField<spec::FeatureDescription>* list,
                const std::string& name) {
  auto* f = list->Add();
  f->set_name(name);
  f->mutable_type()->mutable_double_type();
}

// A regressor over an array input of `inputs` values: y = trees(x).
spec::Model tree_regressor(int64_t inputs = 2) {
  spec::Model m;
  m.set_specification_version(1);
  add_array(m.mutable_description()->mutable_input(), "x", inputs);
  add_double(m.mutable_description()->mutable_output(), "y");
  auto* t = m.mutable_tree_ensemble_regressor()->mutable_tree_ensemble();
  t->set_num_prediction_dimensions(1);
  t->add_base_prediction_value(0.5);
  auto* root = t->add_nodes();  // x[1] <= 0 ? 10 : 20
  root->set_node_id(0);
  root->set_behavior(0);
  root->set_branch_feature_index(1);
  root->set_branch_feature_value(0.0);
  root->set_true_child_node_id(1);
  root->set_false_child_node_id(2);
  for (int id : {1, 2}) {
    auto* leaf = t->add_nodes();
    leaf->set_node_id(static_cast<uint64_t>(id));
    leaf->set_behavior(6);
    auto* e = leaf->add_evaluation_info();
    e->set_evaluation_index(0);
    e->set_evaluation_value(id * 10.0);
  }
  return m;
}

void expect_load_error(const spec::Model& model, const std::string& name,
                       const std::string& fragment) {
  const std::string path = write_model(model, name);
  try {
    Model::load(path);
    ADD_FAILURE() << name << ": no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(path, 0), 0u) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
  fs::remove(path);
}

double predict_y(const spec::Model& model, const std::vector<double>& x) {
  const std::string path = write_model(model, "ok");
  Model loaded = Model::load(path);
  fs::remove(path);
  return loaded.predict_features({{"x", Tensor::from_vector(x)}}).value("y").as_double();
}

TEST(ClassicHostile, AWellFormedTreeRuns) {
  // base 0.5 + the leaf x[1] <= 0 chooses; NaN takes the false child (missing tracks false).
  EXPECT_EQ(predict_y(tree_regressor(), {5.0, -1.0}), 10.5);
  EXPECT_EQ(predict_y(tree_regressor(), {5.0, 1.0}), 20.5);
  EXPECT_EQ(predict_y(tree_regressor(), {5.0, std::nan("")}), 20.5);
}

TEST(ClassicHostile, TreeNodesAreChecked) {
  spec::Model m = tree_regressor();
  auto* nodes = m.mutable_tree_ensemble_regressor()->mutable_tree_ensemble()->mutable_nodes();
  nodes->Mutable(0)->set_false_child_node_id(7);
  expect_load_error(m, "missing_child", "child node 7 does not exist");

  m = tree_regressor();
  nodes = m.mutable_tree_ensemble_regressor()->mutable_tree_ensemble()->mutable_nodes();
  nodes->Mutable(0)->set_false_child_node_id(1);  // both edges to node 1
  expect_load_error(m, "two_parents", "more than one branch");

  m = tree_regressor();
  nodes = m.mutable_tree_ensemble_regressor()->mutable_tree_ensemble()->mutable_nodes();
  // Node 1 becomes a branch back to the root: 0 -> (1, 2), 1 -> (0, 3); every node has a
  // parent, so there is no root and a walk would never end.
  nodes->Mutable(1)->set_behavior(0);
  nodes->Mutable(1)->set_true_child_node_id(0);
  nodes->Mutable(1)->set_false_child_node_id(3);
  {
    auto* leaf = nodes->Add();
    leaf->set_node_id(3);
    leaf->set_behavior(6);
  }
  expect_load_error(m, "cycle", "tree 0 has no root");

  m = tree_regressor();
  nodes = m.mutable_tree_ensemble_regressor()->mutable_tree_ensemble()->mutable_nodes();
  nodes->Mutable(1)->mutable_evaluation_info(0)->set_evaluation_index(3);
  expect_load_error(m, "evaluation_index", "evaluationIndex 3 is beyond the 1 prediction");

  m = tree_regressor();
  nodes = m.mutable_tree_ensemble_regressor()->mutable_tree_ensemble()->mutable_nodes();
  nodes->Mutable(2)->set_node_id(1);
  expect_load_error(m, "duplicate", "node 1 of tree 0 is declared twice");

  m = tree_regressor();
  nodes = m.mutable_tree_ensemble_regressor()->mutable_tree_ensemble()->mutable_nodes();
  nodes->Mutable(0)->set_behavior(42);
  expect_load_error(m, "behavior", "nodeBehavior is 42");

  m = tree_regressor();
  nodes = m.mutable_tree_ensemble_regressor()->mutable_tree_ensemble()->mutable_nodes();
  nodes->Mutable(0)->set_branch_feature_index(uint64_t{1} << 40);
  expect_load_error(m, "feature_index", "branchFeatureIndex 1099511627776 is out of range");

  m = tree_regressor();
  m.mutable_tree_ensemble_regressor()->mutable_tree_ensemble()->set_num_prediction_dimensions(
      uint64_t{1} << 50);
  expect_load_error(m, "dimensions", "numPredictionDimensions is 1125899906842624");
}

TEST(ClassicHostile, FeatureIndexBeyondTheInputFailsAtPrediction) {
  try {
    predict_y(tree_regressor(1), {1.0});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("reads input element 1, but the input has 1"),
              std::string::npos)
        << e.what();
  }
}

TEST(ClassicHostile, SupportVectorsAreChecked) {
  spec::Model m;
  add_array(m.mutable_description()->mutable_input(), "x", 2);
  add_double(m.mutable_description()->mutable_output(), "y");
  auto* svr = m.mutable_support_vector_regressor();
  svr->mutable_kernel()->mutable_linear_kernel();
  auto* node = svr->mutable_sparse_support_vectors()->add_vectors()->add_nodes();
  node->set_index(1 << 30);
  node->set_value(1.0);
  svr->mutable_coefficients()->add_alpha(1.0);
  expect_load_error(m, "sparse_index", "sparse support vector index is 1073741824");

  node->set_index(2);
  svr->mutable_coefficients()->add_alpha(2.0);
  expect_load_error(m, "alphas", "2 coefficients for 1 support vectors");
}

// A binary SVC with Platt parameters: one class pair, one support vector per class.
spec::Model svc_with_probabilities() {
  spec::Model m;
  add_array(m.mutable_description()->mutable_input(), "x", 2);
  auto* label = m.mutable_description()->add_output();
  label->set_name("label");
  label->mutable_type()->mutable_int64_type();
  auto* svc = m.mutable_support_vector_classifier();
  svc->mutable_kernel()->mutable_linear_kernel();
  for (double v : {1.0, -1.0}) {
    auto* vector = svc->mutable_dense_support_vectors()->add_vectors();
    vector->add_values(v);
    vector->add_values(v);
  }
  svc->add_number_of_support_vectors_per_class(1);
  svc->add_number_of_support_vectors_per_class(1);
  svc->add_coefficients()->add_alpha(0.5);
  svc->mutable_coefficients(0)->add_alpha(-0.5);
  svc->add_rho(0.0);
  svc->add_prob_a(-2.0);
  svc->add_prob_b(0.0);
  svc->mutable_int64_class_labels()->add_vector(0);
  svc->mutable_int64_class_labels()->add_vector(1);
  return m;
}

TEST(ClassicHostile, SvcProbabilityParametersAreChecked) {
  spec::Model good = svc_with_probabilities();
  Model model = Model::load(write_model(good, "svc_good"));
  // d = 0.5 (x.v1) - 0.5 (x.v2) = x0 + x1 = 2: p(0) = 1 / (1 + exp(-2 * 2)).
  const Outputs out = model.predict_features({{"x", Tensor::from_vector<double>({1.0, 1.0})}});
  ASSERT_NE(out.classification(), nullptr);
  EXPECT_EQ(out.classification()->int_label(), 0);

  spec::Model extra = svc_with_probabilities();
  extra.mutable_support_vector_classifier()->add_prob_a(1.0);
  expect_load_error(extra, "svc_prob_a_size", "probA/probB have 2/1 values for 1 class pairs");

  spec::Model nan = svc_with_probabilities();
  nan.mutable_support_vector_classifier()->set_prob_b(0, std::nan(""));
  expect_load_error(nan, "svc_prob_b_nan", "probA/probB of class pair 0 are not finite");

  spec::Model inf = svc_with_probabilities();
  inf.mutable_support_vector_classifier()->set_prob_a(0, HUGE_VAL);
  expect_load_error(inf, "svc_prob_a_inf", "probA/probB of class pair 0 are not finite");
}

TEST(ClassicHostile, NearestNeighborSamplesAreChecked) {
  spec::Model knn;
  add_array(knn.mutable_description()->mutable_input(), "x", 2);
  add_double(knn.mutable_description()->mutable_output(), "y");
  auto* index = knn.mutable_k_nearest_neighbors_classifier()->mutable_nearest_neighbors_index();
  index->set_number_of_dimensions(2);
  index->add_float_samples()->add_vector(1.0f);
  index->mutable_float_samples(0)->add_vector(std::nanf(""));
  knn.mutable_k_nearest_neighbors_classifier()->mutable_int64_class_labels()->add_vector(3);
  knn.mutable_k_nearest_neighbors_classifier()->mutable_number_of_neighbors()->set_default_value(1);
  expect_load_error(knn, "knn_nan", "floatSamples[0] holds nan; samples must be finite");

  index->mutable_float_samples(0)->add_vector(2.0f);
  expect_load_error(knn, "knn_sample_size", "a sample has 3 values, numberOfDimensions is 2");
}

// A kNN classifier with a probability output, as coremltools' KNearestNeighborsClassifierBuilder
// declares it, and `samples` two-dimensional samples labelled "a", "b", ...
spec::Model nearest_neighbors(int samples) {
  spec::Model m;
  add_array(m.mutable_description()->mutable_input(), "x", 2);
  auto* label = m.mutable_description()->add_output();
  label->set_name("label");
  label->mutable_type()->mutable_string_type();
  auto* probs = m.mutable_description()->add_output();
  probs->set_name("labelProbs");
  probs->mutable_type()->mutable_dictionary_type()->mutable_string_key_type();
  m.mutable_description()->set_predicted_feature_name("label");
  m.mutable_description()->set_predicted_probabilities_name("labelProbs");
  auto* knn = m.mutable_k_nearest_neighbors_classifier();
  knn->mutable_nearest_neighbors_index()->set_number_of_dimensions(2);
  knn->mutable_nearest_neighbors_index()->mutable_linear_index();
  knn->mutable_string_class_labels();
  knn->set_default_string_label("nothing yet");
  knn->mutable_number_of_neighbors()->set_default_value(1);
  for (int i = 0; i < samples; ++i) {
    auto* sample = knn->mutable_nearest_neighbors_index()->add_float_samples();
    sample->add_vector(static_cast<float>(i));
    sample->add_vector(0.0f);
    knn->mutable_string_class_labels()->add_vector(std::string(1, static_cast<char>('a' + i)));
  }
  return m;
}

TEST(ClassicHostile, AnEmptyNearestNeighborsClassifierAnswersItsDefaultLabel) {
  // NearestNeighbors.proto: the default label is what prediction on an empty kNN classifier
  // (an updatable model before its first update) returns.
  Model model = Model::load(write_model(nearest_neighbors(0), "knn_empty"));
  const Outputs out = model.predict_features({{"x", Tensor::from_vector<double>({1.0, 2.0})}});
  ASSERT_NE(out.classification(), nullptr);
  EXPECT_EQ(out.classification()->label(), "nothing yet");
  EXPECT_EQ(out.value("label").as_string(), "nothing yet");
}

TEST(ClassicHostile, NearestNeighborsRefuseNonFiniteInputs) {
  Model model = Model::load(write_model(nearest_neighbors(3), "knn_nan_input"));
  const Outputs out = model.predict_features({{"x", Tensor::from_vector<double>({1.9, 0.0})}});
  EXPECT_EQ(out.value("label").as_string(), "c");
  for (double bad : {std::nan(""), HUGE_VAL}) {
    try {
      model.predict_features({{"x", Tensor::from_vector<double>({bad, 0.0})}});
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("kNearestNeighborsClassifier: input holds"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(ClassicHostile, OtherParametersAreChecked) {
  spec::Model m;
  add_array(m.mutable_description()->mutable_input(), "x", 2);
  add_array(m.mutable_description()->mutable_output(), "y", 2);
  for (int i = 0; i < 3; ++i) {
    auto* column = m.mutable_feature_vectorizer()->add_input_list();
    column->set_input_column("x");
    column->set_input_dimensions(uint64_t{1} << 62);
  }
  expect_load_error(m, "vectorizer", "inputDimensions add up to more than");

  spec::Model glm;
  add_array(glm.mutable_description()->mutable_input(), "x", 2);
  add_double(glm.mutable_description()->mutable_output(), "y");
  glm.mutable_glm_classifier()->add_weights()->add_value(1.0);
  glm.mutable_glm_classifier()->add_offset(0.0);
  for (const char* label : {"a", "b", "c"}) {
    glm.mutable_glm_classifier()->mutable_string_class_labels()->add_vector(label);
  }
  expect_load_error(glm, "glm_rows", "1 weight rows for 3 classes");

  spec::Model knn;
  add_array(knn.mutable_description()->mutable_input(), "x", 2);
  add_double(knn.mutable_description()->mutable_output(), "y");
  knn.mutable_k_nearest_neighbors_classifier()
      ->mutable_nearest_neighbors_index()
      ->set_number_of_dimensions(2);
  knn.mutable_k_nearest_neighbors_classifier()->mutable_number_of_neighbors()->set_default_value(5);
  expect_load_error(knn, "knn_k", "numberOfNeighbors is 5, expected 1..1");

  spec::Model both = tree_regressor();
  both.mutable_scaler()->add_shift_value(1.0);
  expect_load_error(both, "two_types", "sets 2 model types");
}

TEST(ClassicHostile, PipelinesAreBounded) {
  spec::Model m = tree_regressor();
  for (int depth = 0; depth < 12; ++depth) {
    spec::Model outer;
    *outer.mutable_description() = m.description();
    *outer.mutable_pipeline()->add_models() = m;
    m = outer;
  }
  expect_load_error(m, "deep", "nested deeper than 8 levels");

  spec::Model empty;
  *empty.mutable_description() = tree_regressor().description();
  empty.mutable_pipeline();
  expect_load_error(empty, "empty", "the pipeline is empty");
}

// A model type with no evaluator (itemSimilarityRecommender, field 501, unknown to our schema)
// inside a pipeline is refused at load, naming its place and type.
TEST(ClassicHostile, UnsupportedSubModelsAreNamedAtLoad) {
  spec::Model inner;
  inner.GetReflection()->MutableUnknownFields(&inner)->AddLengthDelimited(501, "");
  spec::Model pipeline;
  *pipeline.mutable_pipeline()->add_models() = inner;
  const std::string path = write_model(pipeline, "unsupported_stage");
  try {
    Model::load(path);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find(path + ": pipeline model 0 (itemSimilarityRecommender): "
                                                "model type itemSimilarityRecommender is not "
                                                "supported"),
              std::string::npos)
        << e.what();
  }
}

// An ML Program stage (tests/data/proto/elementwise.mlmodel) feeding a classic one: the
// pipeline's result must equal the program's own output, picked by arrayFeatureExtractor.
TEST(ClassicPipeline, ProgramStageFeedsAClassicStage) {
  const std::string program_path = std::string(COREML_TEST_DATA_DIR) + "/proto/elementwise.mlmodel";
  std::ifstream in(program_path, std::ios::binary);
  spec::Model program;
  ASSERT_TRUE(program.ParseFromIstream(&in));

  spec::Model extractor;
  auto* ein = extractor.mutable_description()->add_input();
  ein->set_name("out");
  ein->mutable_type()->mutable_multi_array_type()->add_shape(18);
  add_double(extractor.mutable_description()->mutable_output(), "first");
  extractor.mutable_array_feature_extractor()->add_extract_index(4);

  spec::Model pipeline;
  *pipeline.mutable_description()->mutable_input() = program.description().input();
  add_double(pipeline.mutable_description()->mutable_output(), "first");
  *pipeline.mutable_pipeline()->add_models() = program;
  *pipeline.mutable_pipeline()->add_models() = extractor;
  const std::string path = write_model(pipeline, "program_stage");

  const Tensor x =
      Tensor::from_vector(std::vector<float>{1, -2, 3, -4, 5, -6}, std::vector<int64_t>{2, 3});
  Model direct = Model::load(program_path);
  const Tensor out = direct.predict({{"x", x}}).at("out");
  Model piped = Model::load(path);
  fs::remove(path);
  const double first = piped.predict_features({{"x", x}}).value("first").as_double();
  EXPECT_EQ(first, static_cast<double>(out.to(DType::kFloat64).to_vector<double>().at(4)));
}

}  // namespace
}  // namespace coreml
