// Encode throughput of the Qwen 3 tokenizer on a few MB of mixed text (many scripts, code, prose).
// Usage: tokenizer_bench [--benchmark_filter=...] ; COREML_BENCH_TEXT=file overrides the text.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "coreml/llm/tokenizer.h"

namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The benchmark text: the test strings and the long document, repeated to about 4 MB.
const std::string& bench_text() {
  static const std::string text = [] {
    if (const char* path = std::getenv("COREML_BENCH_TEXT")) return read_all(path);
    fs::path dir = fs::path(COREML_TEST_DATA_DIR) / "tokenizers";
    std::string base = read_all(dir / "long.txt");
    std::ifstream in(dir / "strings.jsonl");
    std::string line;
    while (std::getline(in, line)) base += nlohmann::json::parse(line).get<std::string>() + "\n";
    std::string all;
    while (all.size() < 4'000'000) all += base;
    return all;
  }();
  return text;
}

// Lines of the text, encoded one by one (like a batch of documents).
std::vector<std::string> bench_lines() {
  std::vector<std::string> lines;
  std::istringstream in(bench_text());
  std::string line;
  while (std::getline(in, line)) lines.push_back(line + "\n");
  return lines;
}

void BM_Qwen3Encode(benchmark::State& state) {
  fs::path dir = fs::path(COREML_SHARED_DIR) / "fixtures" / "qwen3-tokenizer";
  if (!fs::exists(dir / "tokenizer.json")) {
    state.SkipWithError("Qwen 3 tokenizer not found under ../shared");
    return;
  }
  auto tokenizer = coreml::llm::Tokenizer::from_file(dir);
  auto lines = bench_lines();
  size_t bytes = 0, tokens = 0;
  for (auto _ : state) {
    for (const auto& line : lines) {
      auto ids = tokenizer.encode(line);
      tokens += ids.size();
      bytes += line.size();
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_Qwen3Encode)->Unit(benchmark::kMillisecond)->MinTime(3.0);

}  // namespace

BENCHMARK_MAIN();
