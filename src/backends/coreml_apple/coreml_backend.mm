// The Core ML backend (see coreml_backend.h). Objective-C++ with manual retain/release (no ARC:
// the same file builds against GNUstep on Linux, whose runtime has none), public Core ML API
// only.
//
// Rules this file keeps so that it behaves the same with Apple's and GNU's Objective-C runtimes:
//  - no C++ try/catch here (with GNU's runtime an Objective-C++ file cannot catch C++
//    exceptions); C++ exceptions only pass through, and every Objective-C object is owned by an
//    RAII holder or an autorelease pool guard, so passing through leaks nothing;
//  - Objective-C exceptions are caught right where Core ML is called (@try) and turned into
//    coreml::Error after the @catch block, so none escapes;
//  - NSError messages are copied into std::string before the pool that owns them drains.
#import <CoreML/CoreML.h>
#import <Foundation/Foundation.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "backends/coreml_apple/compile_cache.h"
#include "backends/coreml_apple/coreml_backend.h"

namespace coreml::backends {
namespace {

// Drains an autorelease pool when the scope ends, also when a C++ exception passes.
class PoolGuard {
 public:
  PoolGuard() : pool_([[NSAutoreleasePool alloc] init]) {}
  ~PoolGuard() { [pool_ drain]; }
  PoolGuard(const PoolGuard&) = delete;
  PoolGuard& operator=(const PoolGuard&) = delete;

 private:
  NSAutoreleasePool* pool_;
};

// Owns one reference to an Objective-C object.
template <typename T>
class Owned {
 public:
  Owned() = default;
  explicit Owned(T* adopted) : object_(adopted) {}  // takes over a +1 reference
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& other) noexcept : object_(std::exchange(other.object_, nil)) {}
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) {
      [object_ release];
      object_ = std::exchange(other.object_, nil);
    }
    return *this;
  }
  ~Owned() { [object_ release]; }
  static Owned retain(T* object) { return Owned([object retain]); }
  T* get() const { return object_; }
  explicit operator bool() const { return object_ != nil; }

 private:
  T* object_ = nil;
};

std::string text(NSString* s) { return s ? std::string([s UTF8String]) : std::string(); }
NSString* ns_string(const std::string& s) { return [NSString stringWithUTF8String:s.c_str()]; }

std::string error_text(NSError* error) {
  return error ? text([error localizedDescription]) : std::string("no reason given");
}

// What Core ML said, as a coreml::Error.
[[noreturn]] void fail_core_ml(ErrorCode code, const std::string& what, NSError* error) {
  fail(code, "Core ML: ", what, ": ", error_text(error));
}

// Runs `body` (Objective-C calls); an Objective-C exception it raises becomes a coreml::Error.
template <typename Body>
void objc_guard(const std::string& what, Body&& body) {
  NSString* reason = nil;
  @try {
    body();
  } @catch (NSException* exception) {
    reason = [[NSString alloc] initWithFormat:@"%@: %@", [exception name], [exception reason]];
  }
  if (reason) {
    const std::string message = text(reason);
    [reason release];
    fail(ErrorCode::kInternal, "Core ML raised an exception while ", what, ": ", message);
  }
}

MLComputeUnits ml_compute_units(ComputeUnits units) {
  switch (units) {
    case ComputeUnits::kCpuOnly: return MLComputeUnitsCPUOnly;
    case ComputeUnits::kCpuAndGpu: return MLComputeUnitsCPUAndGPU;
    case ComputeUnits::kCpuAndNeuralEngine: return MLComputeUnitsCPUAndNeuralEngine;
    case ComputeUnits::kAll: break;
  }
  return MLComputeUnitsAll;
}

bool ml_data_type(DType dtype, MLMultiArrayDataType* out) {
  switch (dtype) {
    case DType::kFloat16: *out = MLMultiArrayDataTypeFloat16; return true;
    case DType::kFloat32: *out = MLMultiArrayDataTypeFloat32; return true;
    case DType::kFloat64: *out = MLMultiArrayDataTypeDouble; return true;
    case DType::kInt32: *out = MLMultiArrayDataTypeInt32; return true;
    default: return false;
  }
}

bool tensor_dtype_of(MLMultiArrayDataType type, DType* out) {
  switch (type) {
    case MLMultiArrayDataTypeFloat16: *out = DType::kFloat16; return true;
    case MLMultiArrayDataTypeFloat32: *out = DType::kFloat32; return true;
    case MLMultiArrayDataTypeDouble: *out = DType::kFloat64; return true;
    case MLMultiArrayDataTypeInt32: *out = DType::kInt32; return true;
    default: return false;
  }
}

NSArray<NSNumber*>* ns_numbers(const std::vector<int64_t>& values) {
  NSMutableArray<NSNumber*>* array = [NSMutableArray arrayWithCapacity:values.size()];
  for (int64_t v : values) [array addObject:[NSNumber numberWithLongLong:v]];
  return array;
}

std::vector<int64_t> int_vector(NSArray<NSNumber*>* numbers) {
  std::vector<int64_t> out;
  for (NSNumber* n in numbers) out.push_back([n longLongValue]);
  return out;
}

// Copies a multi-array into `out` (resized only when its shape or dtype changes), honouring the
// array's strides: the Neural Engine pads rows, so the memory is not always contiguous.
void copy_out(const std::string& name, MLMultiArray* array, Tensor& out) {
  DType dtype;
  if (!tensor_dtype_of([array dataType], &dtype)) {
    fail(ErrorCode::kUnsupported, "Core ML output '", name, "' has multi-array data type ",
         static_cast<long>([array dataType]), ", which coreml::Tensor cannot hold");
  }
  const std::vector<int64_t> shape = int_vector([array shape]);
  const std::vector<int64_t> strides = int_vector([array strides]);
  if (strides.size() != shape.size()) {
    fail(ErrorCode::kInternal, "Core ML output '", name, "': ", strides.size(), " strides for ",
         shape.size(), " dimensions");
  }
  if (out.dtype() != dtype || out.shape() != shape || !out.is_contiguous()) {
    out = Tensor::empty(shape, dtype);
  }
  const size_t element = dtype_size(dtype);
  const int64_t rank = static_cast<int64_t>(shape.size());
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  // The farthest element the strides reach, to check against the buffer Core ML reports.
  int64_t last = 0;
  for (int64_t i = 0; i < rank; ++i) {
    if (shape[i] > 0) last += (shape[i] - 1) * strides[i];
  }
  __block bool fits = true;
  uint8_t* const start = static_cast<uint8_t*>(out.data());
  [array getBytesWithHandler:^(const void* bytes, NSInteger size) {
    if (count == 0) return;
    if (static_cast<int64_t>((last + 1) * static_cast<int64_t>(element)) > size) {
      fits = false;
      return;
    }
    const uint8_t* source = static_cast<const uint8_t*>(bytes);
    // Rows along the last dimension; contiguous rows are one memcpy.
    const int64_t row = rank ? shape[rank - 1] : 1;
    const bool dense_rows = rank == 0 || strides[rank - 1] == 1;
    std::vector<int64_t> index(static_cast<size_t>(rank > 0 ? rank - 1 : 0), 0);
    for (int64_t written = 0; written < count; written += row) {
      uint8_t* destination = start + written * element;
      int64_t offset = 0;
      for (int64_t i = 0; i + 1 < rank; ++i) offset += index[i] * strides[i];
      if (dense_rows) {
        std::memcpy(destination, source + offset * element, row * element);
      } else {
        for (int64_t k = 0; k < row; ++k) {
          std::memcpy(destination + k * element,
                      source + (offset + k * strides[rank - 1]) * element, element);
        }
      }
      for (int64_t i = rank - 2; i >= 0; --i) {
        if (++index[i] < shape[i]) break;
        index[i] = 0;
      }
    }
  }];
  if (!fits) {
    fail(ErrorCode::kInternal, "Core ML output '", name, "': its strides reach past its buffer");
  }
}

// MLState is macOS 15 / iOS 18 API and this file targets macOS 14: it is held as NSObject and
// only used as MLState inside availability checks.
#define COREML_MLSTATE_AVAILABLE @available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *)

// An MLState and the names of the states it holds.
class CoreMLState final : public BackendState {
 public:
  CoreMLState(Owned<NSObject> state, std::vector<std::string> names)
      : state_(std::move(state)), names_(std::move(names)) {}

  NSObject* get() const { return state_.get(); }
  std::vector<std::string> names() const override { return names_; }

  Tensor read(const std::string& name) const override {
    check_name(name);
    PoolGuard pool;
    // Blocks and lambdas do not share __block variables: the block gets pointers.
    Tensor copy;
    bool seen = false;
    Tensor* copy_to = &copy;
    bool* seen_flag = &seen;
    const std::string name_copy = name;
    if (COREML_MLSTATE_AVAILABLE) {
      objc_guard("reading state '" + name + "'", [&] {
        [static_cast<MLState*>(state_.get())
            getMultiArrayForStateNamed:ns_string(name)
                               handler:^(MLMultiArray* buffer) {
                                 *seen_flag = true;
                                 copy_out(name_copy, buffer, *copy_to);
                               }];
      });
    }
    if (!seen) fail(ErrorCode::kNotFound, "Core ML has no state named '", name, "'");
    return copy;
  }

  void reset() override {
    PoolGuard pool;
    if (COREML_MLSTATE_AVAILABLE) {
      for (const auto& name : names_) {
        objc_guard("resetting state '" + name + "'", [&] {
          [static_cast<MLState*>(state_.get())
              getMultiArrayForStateNamed:ns_string(name)
                                 handler:^(MLMultiArray* buffer) {
                                   [buffer
                                       getMutableBytesWithHandler:^(void* bytes, NSInteger size,
                                                                    NSArray<NSNumber*>* strides) {
                                         std::memset(bytes, 0, static_cast<size_t>(size));
                                       }];
                                 }];
        });
      }
    }
  }

 private:
  void check_name(const std::string& name) const {
    for (const auto& n : names_) {
      if (n == name) return;
    }
    fail(ErrorCode::kNotFound, "no state named '", name, "'");
  }

  Owned<NSObject> state_;
  std::vector<std::string> names_;
};

class CoreMLFunction final : public CompiledFunction {
 public:
  CoreMLFunction(Owned<MLModel> model, const mil::Function& function)
      : model_(std::move(model)), function_(function) {
    for (const auto& in : function.inputs) {
      if (in.type.kind == mil::Type::Kind::kState) {
        state_names_.push_back(in.name);
      } else {
        input_names_.push_back(in.name);
      }
    }
  }

  void predict(std::span<const Tensor* const> inputs, State* state,
               std::vector<Tensor>& outputs) override {
    PoolGuard pool;
    if (inputs.size() != input_names_.size()) {
      fail(ErrorCode::kInternal, "Core ML backend: ", inputs.size(), " inputs for ",
           input_names_.size());
    }
    NSMutableDictionary<NSString*, id>* features =
        [NSMutableDictionary dictionaryWithCapacity:inputs.size()];
    for (size_t k = 0; k < inputs.size(); ++k) {
      [features setObject:[MLFeatureValue featureValueWithMultiArray:wrap(k, *inputs[k])]
                   forKey:ns_string(input_names_[k])];
    }
    NSError* error = nil;
    MLDictionaryFeatureProvider* provider =
        [[[MLDictionaryFeatureProvider alloc] initWithDictionary:features
                                                           error:&error] autorelease];
    if (!provider) fail_core_ml(ErrorCode::kInvalidArgument, "inputs of '" + name() + "'", error);
    MLPredictionOptions* options = [[[MLPredictionOptions alloc] init] autorelease];
    NSObject* ml_state = bound_state(state);
    id<MLFeatureProvider> result = nil;
    objc_guard("predicting with '" + name() + "'", [&] {
      if (!ml_state) {
        result = [model_.get() predictionFromFeatures:provider options:options error:&error];
      } else if (COREML_MLSTATE_AVAILABLE) {
        result = [model_.get() predictionFromFeatures:provider
                                           usingState:static_cast<MLState*>(ml_state)
                                              options:options
                                                error:&error];
      }
    });
    if (!result) fail_core_ml(ErrorCode::kInvalidArgument, "prediction of '" + name() + "'", error);
    outputs.resize(function_.block.outputs.size());
    for (size_t i = 0; i < function_.block.outputs.size(); ++i) {
      const std::string& output = function_.block.outputs[i];
      MLFeatureValue* value = [result featureValueForName:ns_string(output)];
      MLMultiArray* array = value ? [value multiArrayValue] : nil;
      if (!array) {
        fail(ErrorCode::kUnsupported, "Core ML returned no multi-array for output '", output,
             "' of '", name(), "'");
      }
      copy_out(output, array, outputs[i]);
    }
  }

  State make_state() const override {
    State state;
    if (state_names_.empty()) return state;
    if (![model_.get() respondsToSelector:@selector(newState)]) {
      fail(ErrorCode::kUnsupported, "'", name(),
           "' declares states, which need Core ML's MLState (macOS 15, iOS 18); this system's "
           "Core ML has none");
    }
    PoolGuard pool;
    NSObject* created = nil;
    if (COREML_MLSTATE_AVAILABLE) {
      objc_guard("creating a state for '" + name() + "'",
                 [&] { created = [model_.get() newState]; });
    }
    if (!created) fail(ErrorCode::kInternal, "Core ML made no state for '", name(), "'");
    StateAccess::set_backend_state(
        state, std::make_shared<CoreMLState>(Owned<NSObject>(created), state_names_));
    return state;
  }

 private:
  std::string name() const { return "function " + function_.name; }

  // A multi-array over the tensor's memory (no copy): Core ML reads it during the prediction.
  MLMultiArray* wrap(size_t k, const Tensor& tensor) const {
    MLMultiArrayDataType type;
    if (!ml_data_type(tensor.dtype(), &type)) {
      fail(ErrorCode::kUnsupported, "input '", input_names_[k],
           "': Core ML takes fp16, fp32, "
           "fp64 or int32 multi-arrays, not ",
           dtype_name(tensor.dtype()));
    }
    std::vector<int64_t> strides(tensor.shape().size());
    int64_t stride = 1;
    for (size_t i = strides.size(); i-- > 0;) {
      strides[i] = stride;
      stride *= tensor.shape()[i];
    }
    NSError* error = nil;
    MLMultiArray* array =
        [[[MLMultiArray alloc] initWithDataPointer:const_cast<void*>(tensor.data())
                                             shape:ns_numbers(tensor.shape())
                                          dataType:type
                                           strides:ns_numbers(strides)
                                       deallocator:nil
                                             error:&error] autorelease];
    if (!array) fail_core_ml(ErrorCode::kInvalidArgument, "input '" + input_names_[k] + "'", error);
    return array;
  }

  NSObject* bound_state(State* state) const {
    if (state_names_.empty()) return nil;
    if (!state) {
      fail(ErrorCode::kInvalidArgument, "function '", function_.name,
           "' has states: create one with make_state() and call predict(inputs, state)");
    }
    const auto* held = dynamic_cast<const CoreMLState*>(StateAccess::backend_state(*state).get());
    if (!held) {
      fail(ErrorCode::kInvalidArgument, "function '", function_.name,
           "' runs on Core ML, but the State was not made by Core ML; make it with make_state() "
           "of a model loaded with the Core ML backend");
    }
    const auto names = held->names();
    for (const auto& wanted : state_names_) {
      if (std::find(names.begin(), names.end(), wanted) == names.end()) {
        fail(ErrorCode::kInvalidArgument, "the State has no '", wanted, "' that function '",
             function_.name, "' declares; make it with make_state() of a model whose states match");
      }
    }
    return held->get();
  }

  Owned<MLModel> model_;
  const mil::Function& function_;
  std::vector<std::string> input_names_, state_names_;
};

// The .mlmodelc to load: the model itself when compiled, else its cached compilation.
std::string compiled_model_path(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path model(path);
  if (model.extension() == ".mlmodelc") return path;
  const fs::path cached = coreml_apple::cached_compiled_path(
      coreml_apple::compiled_cache_folder(), coreml_apple::model_content_key(model));
  if (fs::exists(cached)) return cached.string();
  PoolGuard pool;
  NSError* error = nil;
  NSURL* compiled = nil;
  objc_guard("compiling " + path, [&] {
    compiled = [MLModel compileModelAtURL:[NSURL fileURLWithPath:ns_string(path)] error:&error];
  });
  if (!compiled) fail_core_ml(ErrorCode::kUnsupported, "compiling " + path, error);
  coreml_apple::store_compiled(fs::path(text([compiled path])), cached);
  return cached.string();
}

class CoreMLBackend final : public BackendInterface {
 public:
  Backend kind() const override { return Backend::kCoreML; }
  const char* name() const override { return "coreml"; }

  bool available() const override { return NSClassFromString(@"MLModel") != nil; }
  std::string unavailable_reason() const override {
    return available() ? std::string() : "CoreML.framework is not loaded";
  }

  // Core ML itself decides what it runs; a model it rejects fails in compile() with its reason.
  bool supports(std::string_view op_type) const override { return op_type != "classify"; }

  std::vector<std::string> unsupported_ops(const mil::Function& function) const override {
    std::vector<std::string> out;
    for (const auto& op : function.block.operations) {
      if (!supports(op.type)) {
        out.push_back(op.type + " (op '" + (op.outputs.empty() ? "" : op.outputs[0].name) +
                      "': classifier results are not converted by this backend yet)");
      }
    }
    return out;
  }

  std::unique_ptr<CompiledFunction> compile(const CompileRequest& request) const override {
    const mil::Function& function = *request.function;
    if (const auto missing = unsupported_ops(function); !missing.empty()) {
      fail(ErrorCode::kUnsupported, "the Core ML backend cannot run function '", function.name,
           "': ", missing.front());
    }
    const std::string compiled = compiled_model_path(request.path);
    PoolGuard pool;
    MLModelConfiguration* configuration = [[[MLModelConfiguration alloc] init] autorelease];
    [configuration setComputeUnits:ml_compute_units(request.compute_units)];
    const bool is_default = function.name == request.asset->description.default_function;
    if (request.asset->program.functions.size() > 1 || !is_default) {
      // Multifunction models name their function (macOS 15 / iOS 18); older systems load only
      // the default one.
      bool named = false;
      if (COREML_MLSTATE_AVAILABLE) {  // functionName came with MLState
        if ([configuration respondsToSelector:@selector(setFunctionName:)]) {
          [configuration setFunctionName:ns_string(function.name)];
          named = true;
        }
      }
      if (!named && !is_default) {
        fail(ErrorCode::kUnsupported, "function '", function.name,
             "' is not the model's default: choosing a function needs "
             "MLModelConfiguration.functionName (macOS 15, iOS 18), which this system's Core ML "
             "lacks");
      }
    }
    NSError* error = nil;
    MLModel* model = nil;
    objc_guard("loading " + compiled, [&] {
      model = [MLModel modelWithContentsOfURL:[NSURL fileURLWithPath:ns_string(compiled)]
                                configuration:configuration
                                        error:&error];
    });
    if (!model) fail_core_ml(ErrorCode::kUnsupported, "loading " + compiled, error);
    return std::make_unique<CoreMLFunction>(Owned<MLModel>::retain(model), function);
  }
};

}  // namespace

std::shared_ptr<const BackendInterface> make_coreml_backend() {
  return std::make_shared<CoreMLBackend>();
}

}  // namespace coreml::backends
