// Minimal use of coreml::Model: run a stateful model three times with one State.
//   build/bin/example_predict [examples/models/accumulator.mlpackage]
#include <iostream>

#include "coreml/model.h"

int main(int argc, char** argv) {
  try {
    auto model = coreml::Model::load(argc > 1 ? argv[1] : "examples/models/accumulator.mlpackage");
    coreml::State state = model.make_state();
    const auto x = coreml::Tensor::from_vector<float>({1, 2, 3, 4}, std::vector<int64_t>{1, 4});
    for (int step = 0; step < 3; ++step) {
      const coreml::Outputs out = model.predict({{"x", x}}, state);  // fp32 -> fp16 input converted
      std::cout << out.front().first << " = " << out.front().second.to_string() << "\n";
    }
  } catch (const coreml::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
