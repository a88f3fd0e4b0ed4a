// Tokenizer, ANEMLL LLMs and chat sessions for Python. Generation releases the GIL; the
// streaming callback takes it back for each piece. One mutex per model serializes generations
// on it (its parts share one runtime state).
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bindings.h"
#include "coreml/error.h"
#include "coreml/llm/model.h"
#include "coreml/llm/tokenizer.h"

namespace nb = nanobind;
using coreml::llm::Tokenizer;

namespace coreml::python {
namespace {

struct PyLlm {
  std::shared_ptr<llm::Model> model;
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
};

struct PyChat {
  std::shared_ptr<std::mutex> mutex;
  llm::ChatSession session;
};

nb::object optional_token(const std::optional<llm::SpecialToken>& token) {
  if (!token) return nb::none();
  return nb::cast(token->content);
}

// Options from a dict of keyword arguments (Python checks names; values are checked here).
llm::GenerateOptions generate_options(const nb::dict& kwargs) {
  llm::GenerateOptions options;
  for (auto [key, value] : kwargs) {
    const std::string name = nb::cast<std::string>(key);
    if (value.is_none()) continue;
    if (name == "max_tokens") {
      options.max_tokens = nb::cast<int>(value);
      if (options.max_tokens < 0) fail(ErrorCode::kInvalidArgument, "max_tokens must be >= 0");
    } else if (name == "temperature") {
      options.sampling.temperature = nb::cast<float>(value);
    } else if (name == "top_k") {
      options.sampling.top_k = nb::cast<int>(value);
    } else if (name == "top_p") {
      options.sampling.top_p = nb::cast<float>(value);
    } else if (name == "min_p") {
      options.sampling.min_p = nb::cast<float>(value);
    } else if (name == "repetition_penalty") {
      options.sampling.repetition_penalty = nb::cast<float>(value);
    } else if (name == "presence_penalty") {
      options.sampling.presence_penalty = nb::cast<float>(value);
    } else if (name == "frequency_penalty") {
      options.sampling.frequency_penalty = nb::cast<float>(value);
    } else if (name == "seed") {
      options.sampling.seed = nb::cast<uint64_t>(value);
    } else if (name == "stop") {
      options.stop = nb::cast<std::vector<std::string>>(value);
    } else if (name == "ignore_eos") {
      options.ignore_eos = nb::cast<bool>(value);
    } else if (name == "truncate") {
      options.truncate = nb::cast<bool>(value);
    } else {
      fail(ErrorCode::kInvalidArgument, "unknown generation option '", name, "'");
    }
  }
  return options;
}

// Calls `on_token(piece, token_id)` for every piece (GIL taken per call); a False result or a
// Python exception cancels the generation; the exception is raised once it has stopped.
void set_callback(llm::GenerateOptions& options, const nb::object& on_token) {
  if (on_token.is_none()) return;
  // A borrowed pointer (the caller's frame holds the object): copies of the std::function
  // made without the GIL then touch no reference count.
  PyObject* callable = on_token.ptr();
  options.on_token = [callable](std::string_view piece, int32_t token) {
    nb::gil_scoped_acquire gil;
    if (PyErr_Occurred()) return false;
    try {
      nb::object keep = nb::handle(callable)(nb::str(piece.data(), piece.size()), token);
      return keep.is_none() || nb::cast<bool>(keep);
    } catch (nb::python_error& e) {
      e.restore();
      return false;
    } catch (const nb::cast_error&) {
      PyErr_SetString(PyExc_TypeError, "on_token must return a bool or None");
      return false;
    }
  };
}

nb::dict result_dict(const llm::GenerationResult& r) {
  nb::dict d;
  d["text"] = r.text;
  d["token_ids"] = r.token_ids;
  d["prompt_token_ids"] = r.prompt_token_ids;
  d["finish_reason"] = r.finish_reason;
  nb::dict stats;
  stats["prompt_tokens"] = r.stats.prompt_tokens;
  stats["prefilled_tokens"] = r.stats.prefilled_tokens;
  stats["generated_tokens"] = r.stats.generated_tokens;
  stats["ttft_ms"] = r.stats.ttft_ms;
  stats["prefill_tok_s"] = r.stats.prefill_tok_s;
  stats["decode_tok_s"] = r.stats.decode_tok_s;
  stats["context_shifts"] = r.stats.context_shifts;
  d["stats"] = stats;
  return d;
}

// Runs `generate` without the GIL, then raises what a callback raised.
template <typename Fn>
nb::dict run_generation(const std::shared_ptr<std::mutex>& mutex, Fn generate) {
  llm::GenerationResult result;
  {
    nb::gil_scoped_release released;
    std::lock_guard lock(*mutex);
    result = generate();
  }
  if (PyErr_Occurred()) throw nb::python_error();
  return result_dict(result);
}

nlohmann::ordered_json parse_json(const std::string& text, const char* what) {
  auto doc = nlohmann::ordered_json::parse(text, nullptr, false);
  if (doc.is_discarded()) fail(ErrorCode::kInvalidArgument, what, ": not valid JSON");
  return doc;
}

}  // namespace

void bind_llm(nb::module_& m) {
  nb::class_<Tokenizer>(m, "Tokenizer")
      .def_static(
          "from_file",
          [](const std::string& path, const std::string& config_path) {
            return Tokenizer::from_file(path, config_path);
          },
          nb::arg("path"), nb::arg("config_path") = "")
      .def_static("from_json", &Tokenizer::from_json, nb::arg("tokenizer_json"),
                  nb::arg("config_json") = "", nb::arg("name") = "tokenizer.json")
      .def(
          "encode",
          [](const Tokenizer& t, const std::string& text, bool add_special_tokens) {
            nb::gil_scoped_release released;
            return t.encode(text, {.add_special_tokens = add_special_tokens});
          },
          nb::arg("text"), nb::arg("add_special_tokens") = false)
      .def(
          "encode_with_tokens",
          [](const Tokenizer& t, const std::string& text, bool add_special_tokens) {
            auto e = t.encode_with_tokens(text, {.add_special_tokens = add_special_tokens});
            return nb::make_tuple(e.ids, e.tokens);
          },
          nb::arg("text"), nb::arg("add_special_tokens") = false)
      .def(
          "decode",
          [](const Tokenizer& t, const std::vector<int32_t>& ids, bool skip_special_tokens) {
            return t.decode(ids, {.skip_special_tokens = skip_special_tokens});
          },
          nb::arg("ids"), nb::arg("skip_special_tokens") = false)
      .def("token_to_id", [](const Tokenizer& t, const std::string& s) { return t.token_to_id(s); })
      .def("id_to_token", [](const Tokenizer& t, int32_t id) { return t.id_to_token(id); })
      .def("is_special", &Tokenizer::is_special)
      .def_prop_ro("vocab_size", &Tokenizer::vocab_size)
      .def_prop_ro("bos_token", [](const Tokenizer& t) { return optional_token(t.bos_token()); })
      .def_prop_ro("eos_token", [](const Tokenizer& t) { return optional_token(t.eos_token()); });

  nb::class_<PyLlm>(m, "LLM")
      .def(
          "__init__",
          [](PyLlm* self, const std::string& model, int threads) {
            std::shared_ptr<llm::Model> loaded;
            {
              nb::gil_scoped_release released;
              loaded = llm::Model::load(model, {.threads = threads});
            }
            new (self) PyLlm{std::move(loaded)};
          },
          nb::arg("model"), nb::arg("threads") = 0)
      .def_prop_ro("tokenizer", [](const PyLlm& self) { return self.model->tokenizer(); })
      .def_prop_ro("folder", [](const PyLlm& self) { return self.model->folder().string(); })
      .def_prop_ro("stop_token_ids", [](const PyLlm& self) { return self.model->stop_token_ids(); })
      .def_prop_ro("info",
                   [](const PyLlm& self) {
                     const auto& i = self.model->info();
                     nb::dict d;
                     d["name"] = i.name;
                     d["version"] = i.version;
                     d["architecture"] = i.architecture;
                     d["hidden_size"] = i.hidden_size;
                     d["batch_size"] = i.batch_size;
                     d["context_length"] = i.context_length;
                     d["vocab_size"] = i.vocab_size;
                     d["num_chunks"] = i.num_chunks;
                     return d;
                   })
      .def(
          "encode_chat",
          [](const PyLlm& self, const std::string& messages_json,
             std::optional<bool> enable_thinking) {
            return self.model->encode_chat(parse_json(messages_json, "messages"),
                                           {.enable_thinking = enable_thinking});
          },
          nb::arg("messages_json"), nb::arg("enable_thinking").none() = nb::none())
      .def(
          "generate",
          [](const PyLlm& self, const std::vector<int32_t>& prompt_ids, const nb::dict& kwargs,
             nb::object on_token) {
            llm::GenerateOptions options = generate_options(kwargs);
            set_callback(options, on_token);
            auto model = self.model;
            return run_generation(self.mutex, [&] { return model->generate(prompt_ids, options); });
          },
          nb::arg("prompt_ids"), nb::arg("options"), nb::arg("on_token").none() = nb::none());

  nb::class_<PyChat>(m, "ChatSession")
      .def(
          "__init__",
          [](PyChat* self, const PyLlm& model) {
            new (self) PyChat{model.mutex, llm::ChatSession(model.model)};
          },
          nb::arg("model"))
      .def("set_system",
           [](PyChat& self, std::string text) { self.session.set_system(std::move(text)); })
      .def(
          "set_thinking",
          [](PyChat& self, std::optional<bool> on) { self.session.set_thinking(on); },
          nb::arg("enabled").none())
      .def("reset", [](PyChat& self) { self.session.reset(); })
      .def("messages_json", [](const PyChat& self) { return self.session.messages().dump(); })
      .def(
          "send",
          [](PyChat& self, const std::string& text, const nb::dict& kwargs, nb::object on_token) {
            llm::GenerateOptions options = generate_options(kwargs);
            set_callback(options, on_token);
            return run_generation(self.mutex, [&] { return self.session.send(text, options); });
          },
          nb::arg("text"), nb::arg("options"), nb::arg("on_token").none() = nb::none());
}

}  // namespace coreml::python
