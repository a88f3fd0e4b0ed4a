// Classic model types and pipelines converted from scikit-learn by coremltools' sklearn
// converter (tests/data/classic/, tools/fixtures/make_classic_models.py), against the
// predictions scikit-learn made for the same inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "coreml/model.h"
#include "support/run_command.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

const nlohmann::json& expected() {
  static const nlohmann::json j = [] {
    std::ifstream in(fs::path(COREML_TEST_DATA_DIR) / "classic" / "expected.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

std::string model_path(const std::string& name) {
  return (fs::path(COREML_TEST_DATA_DIR) / "classic" / (name + ".mlmodel")).string();
}

// JSON inputs: arrays become fp64 tensors, objects string dictionaries, numbers doubles,
// strings strings; null is NaN (a missing value).
FeatureInputs inputs_of(const nlohmann::json& row) {
  FeatureInputs inputs;
  for (const auto& [name, value] : row.items()) {
    if (value.is_number() || value.is_null()) {
      inputs[name] =
          value.is_null() ? std::numeric_limits<double>::quiet_NaN() : value.get<double>();
      continue;
    }
    if (value.is_string()) {
      inputs[name] = value.get<std::string>();
      continue;
    }
    if (value.is_object()) {
      inputs[name] = value.get<StringDictionary>();
      continue;
    }
    std::vector<double> values;
    for (const auto& v : value) {
      values.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>());
    }
    inputs[name] = Tensor::from_vector(values);
  }
  return inputs;
}

std::string label_text(const nlohmann::json& label) {
  return label.is_string() ? label.get<std::string>() : std::to_string(label.get<int64_t>());
}

// Every case's predictions: labels exactly, probabilities and values to 1e-9 relative.
void expect_case(const std::string& name, double tolerance = 1e-9) {
  SCOPED_TRACE(name);
  Model model = Model::load(model_path(name));
  const auto& c = expected().at(name);
  const auto& rows = c.at("inputs");
  const auto& outs = c.at("outputs");
  ASSERT_EQ(rows.size(), outs.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    const Outputs out = model.predict_features(inputs_of(rows[i]));
    const auto& want = outs[i];
    if (want.contains("value")) {
      const double v = want.at("value").get<double>();
      EXPECT_NEAR(out.value("y").as_double(), v, tolerance * std::max(1.0, std::abs(v)));
      continue;
    }
    if (want.contains("vector")) {
      const std::vector<double> got = out.at("y").to_vector<double>();
      EXPECT_EQ(got, want.at("vector").get<std::vector<double>>());
      continue;
    }
    const Classification* k = out.classification();
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->label(), label_text(want.at("label")));
    if (want.at("label").is_string()) {
      EXPECT_EQ(out.value(k->label_output).as_string(), want.at("label").get<std::string>());
    } else {
      EXPECT_EQ(out.value(k->label_output).as_int64(), want.at("label").get<int64_t>());
    }
    if (!want.contains("probabilities")) continue;
    ASSERT_EQ(k->classes.size(), want.at("probabilities").size());
    for (size_t j = 0; j < k->classes.size(); ++j) {
      EXPECT_NEAR(k->probabilities.at(j), want.at("probabilities").at(k->classes[j]).get<double>(),
                  tolerance);
    }
  }
}

TEST(ClassicModels, PipelineImputerScalerLogisticRegression) { expect_case("pipeline_logistic"); }
TEST(ClassicModels, GradientBoostingClassifier) { expect_case("gradient_boosting_classifier"); }
TEST(ClassicModels, RandomForestClassifier) { expect_case("random_forest_classifier"); }
TEST(ClassicModels, RandomForestRegressor) { expect_case("random_forest_regressor"); }
TEST(ClassicModels, GradientBoostingRegressor) { expect_case("gradient_boosting_regressor"); }
TEST(ClassicModels, SupportVectorClassifier) { expect_case("svc"); }
TEST(ClassicModels, SupportVectorRegressor) { expect_case("svr"); }
TEST(ClassicModels, DictVectorizerPipeline) { expect_case("dict_vectorizer_regression"); }
TEST(ClassicModels, KNearestNeighbors) { expect_case("knn"); }
TEST(ClassicModels, NormalizerPipeline) { expect_case("normalizer_regression"); }

// SVC(probability=True): probA/probB and libsvm's pairwise coupling against predict_proba.
TEST(ClassicModels, SvcProbabilitiesLinearBinary) { expect_case("svc_probability_linear_binary"); }
TEST(ClassicModels, SvcProbabilitiesRbfStringLabels) { expect_case("svc_probability_rbf"); }
TEST(ClassicModels, SvcProbabilitiesPolyFourClasses) { expect_case("svc_probability_poly"); }
TEST(ClassicModels, SvcProbabilitiesSigmoid) { expect_case("svc_probability_sigmoid"); }

// kNN built with coremltools' builder against KNeighborsClassifier's predict and predict_proba.
TEST(ClassicModels, KnnInverseDistanceLinearIndex) { expect_case("knn_distance_linear"); }
TEST(ClassicModels, KnnInverseDistanceKdTreeStringLabels) { expect_case("knn_distance_kd_tree"); }
TEST(ClassicModels, KnnUniformWithProbabilities) { expect_case("knn_uniform_linear"); }

// sklearn OneHotEncoder on an integer column, as its converter builds it.
TEST(ClassicModels, OneHotEncoderKnownCategories) { expect_case("one_hot_error"); }
TEST(ClassicModels, OneHotEncoderIgnoresUnknownCategories) { expect_case("one_hot_ignore"); }
TEST(ClassicModels, OneHotEncoderTwoColumns) { expect_case("one_hot_two_columns"); }
TEST(ClassicModels, OneHotEncoderStringCategories) { expect_case("one_hot_strings"); }

// Other converters against their source library: coremltools.converters.libsvm (libsvm's
// svm_predict, its probabilities included) and coremltools.converters.xgboost (xgboost's predict;
// float32 sums, hence the looser tolerance).
TEST(ClassicModels, LibsvmRbfClassifierWithProbabilities) { expect_case("libsvm_svc"); }
TEST(ClassicModels, LibsvmBinaryPolyClassifierWithProbabilities) {
  expect_case("libsvm_svc_binary");
}
TEST(ClassicModels, LibsvmNuSigmoidClassifierWithProbabilities) {
  expect_case("libsvm_nu_svc_sigmoid");
}
TEST(ClassicModels, LibsvmEpsilonRegressor) { expect_case("libsvm_epsilon_svr"); }
TEST(ClassicModels, LibsvmNuLinearRegressor) { expect_case("libsvm_nu_svr_linear"); }
TEST(ClassicModels, XgboostRegressor) { expect_case("xgboost_regressor", 1e-5); }
TEST(ClassicModels, XgboostMultiClassClassifier) { expect_case("xgboost_classifier", 1e-6); }
TEST(ClassicModels, XgboostBinaryClassifier) { expect_case("xgboost_binary", 1e-6); }

TEST(ClassicModels, OneHotEncoderRefusesAnUnknownCategory) {
  // sklearn's handle_unknown='error' raises for a category it did not see; so must the model.
  Model model = Model::load(model_path("one_hot_error"));
  try {
    model.predict_features({{"x", 7.0}});
    ADD_FAILURE() << "no error for an unknown category";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not one of the 4 categories"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace coreml
