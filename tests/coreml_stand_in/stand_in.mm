// The Core ML stand-in (CoreML/CoreML.h): Apple's documented behaviour, on top of coreml-cpp's
// native runtime. Manual retain/release; C++ exceptions are caught in stand_in_catch.cpp.
//
// What it does as Apple documents, including the awkward parts the backend must cope with:
//  - +compileModelAtURL: makes a .mlmodelc folder in a temporary place (the caller moves it);
//    here the folder holds a copy of the source model, which -modelWithContentsOfURL: runs;
//  - outputs are multi-arrays whose rows are padded (strides not contiguous), as the Neural
//    Engine returns them;
//  - errors are NSError objects (MLModelErrorDomain) with a localized description;
//  - "older systems" (set_system_version below 15) lack functionName and MLState.
#import <CoreML/CoreML.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "coreml/model.h"
#include "stand_in_catch.h"
#include "stand_in_control.h"

NSString* const MLModelErrorDomain = @"com.apple.CoreML";

namespace coreml_stand_in {
namespace {

std::atomic<int> system_version{15};
std::atomic<int> row_padding_bytes{64};
std::atomic<int> compiles{0};
std::atomic<int> last_units{-1};
std::string last_function;  // tests load models on one thread

NSString* ns_string(const std::string& s) { return [NSString stringWithUTF8String:s.c_str()]; }

NSError* make_error(const std::string& message) {
  return [NSError errorWithDomain:MLModelErrorDomain
                             code:0
                         userInfo:@{NSLocalizedDescriptionKey : ns_string(message)}];
}

void set_error(NSError** error, const std::string& message) {
  if (error) *error = make_error(message);
}

bool dtype_of(MLMultiArrayDataType type, coreml::DType* out) {
  switch (type) {
    case MLMultiArrayDataTypeFloat16: *out = coreml::DType::kFloat16; return true;
    case MLMultiArrayDataTypeFloat32: *out = coreml::DType::kFloat32; return true;
    case MLMultiArrayDataTypeDouble: *out = coreml::DType::kFloat64; return true;
    case MLMultiArrayDataTypeInt32: *out = coreml::DType::kInt32; return true;
  }
  return false;
}

bool data_type_of(coreml::DType dtype, MLMultiArrayDataType* out) {
  switch (dtype) {
    case coreml::DType::kFloat16: *out = MLMultiArrayDataTypeFloat16; return true;
    case coreml::DType::kFloat32: *out = MLMultiArrayDataTypeFloat32; return true;
    case coreml::DType::kFloat64: *out = MLMultiArrayDataTypeDouble; return true;
    case coreml::DType::kInt32: *out = MLMultiArrayDataTypeInt32; return true;
    default: return false;
  }
}

NSArray<NSNumber*>* numbers(const std::vector<int64_t>& values) {
  NSMutableArray<NSNumber*>* array = [NSMutableArray array];
  for (int64_t v : values) [array addObject:[NSNumber numberWithLongLong:v]];
  return array;
}

std::vector<int64_t> ints(NSArray<NSNumber*>* array) {
  std::vector<int64_t> out;
  for (NSNumber* n in array) out.push_back([n longLongValue]);
  return out;
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

// Strides with the last dimension's rows padded to `padding` bytes.
std::vector<int64_t> padded_strides(const std::vector<int64_t>& shape, size_t element,
                                    int padding) {
  std::vector<int64_t> strides = contiguous_strides(shape);
  if (padding <= 0 || shape.size() < 2) return strides;
  const int64_t per_row = padding / static_cast<int64_t>(element);
  if (per_row <= 0) return strides;
  int64_t stride = (shape.back() + per_row - 1) / per_row * per_row;
  for (size_t i = shape.size() - 1; i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

struct ArrayStorage {
  std::vector<int64_t> shape, strides;
  MLMultiArrayDataType type = MLMultiArrayDataTypeFloat32;
  void* data = nullptr;
  size_t bytes = 0;  // of the buffer the strides span
  bool owned = false;
  void (^deallocator)(void*) = nullptr;  // copied block, for an adopted pointer
};

size_t element_size(MLMultiArrayDataType type) {
  coreml::DType dtype;
  return dtype_of(type, &dtype) ? coreml::dtype_size(dtype) : 0;
}

size_t span_bytes(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                  size_t element) {
  int64_t last = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return 0;
    last += (shape[i] - 1) * strides[i];
  }
  return static_cast<size_t>(last + 1) * element;
}

}  // namespace

void set_system_version(int macos_major) { system_version = macos_major; }
void set_row_padding_bytes(int bytes) { row_padding_bytes = bytes; }
int last_compute_units() { return last_units; }
std::string last_function_name() { return last_function; }
int compile_count() { return compiles; }

}  // namespace coreml_stand_in

using namespace coreml_stand_in;

// The stand-in's own methods (not in Apple's API).
@interface MLMultiArray ()
- (nullable instancetype)initOwningShape:(std::vector<int64_t>)dims
                                 strides:(std::vector<int64_t>)strides
                                dataType:(MLMultiArrayDataType)dataType
                                   error:(NSError**)error;
@end

@interface MLModel ()
- (nullable id<MLFeatureProvider>)predictWith:(id<MLFeatureProvider>)input
                                        state:(MLState*)state
                                        error:(NSError**)error;
@end

// ---------------------------------------------------------------------------------------
@implementation MLMultiArray

static ArrayStorage& storage(MLMultiArray* array) {
  return *static_cast<ArrayStorage*>(array->_standIn);
}

- (nullable instancetype)initWithShape:(NSArray<NSNumber*>*)shape
                              dataType:(MLMultiArrayDataType)dataType
                                 error:(NSError**)error {
  const std::vector<int64_t> dims = ints(shape);
  return [self initOwningShape:dims strides:contiguous_strides(dims) dataType:dataType error:error];
}

// (stand-in) A zero-filled array of its own memory with the given strides.
- (nullable instancetype)initOwningShape:(std::vector<int64_t>)dims
                                 strides:(std::vector<int64_t>)strides
                                dataType:(MLMultiArrayDataType)dataType
                                   error:(NSError**)error {
  if (!(self = [super init])) return nil;
  const size_t element = element_size(dataType);
  if (element == 0) {
    set_error(error, "unsupported multi-array data type " + std::to_string(dataType));
    [self release];
    return nil;
  }
  auto* s = new ArrayStorage;
  s->shape = std::move(dims);
  s->strides = std::move(strides);
  s->type = dataType;
  s->bytes = span_bytes(s->shape, s->strides, element);
  s->data = calloc(s->bytes ? s->bytes : 1, 1);
  s->owned = true;
  _standIn = s;
  return self;
}

- (nullable instancetype)initWithDataPointer:(void*)dataPointer
                                       shape:(NSArray<NSNumber*>*)shape
                                    dataType:(MLMultiArrayDataType)dataType
                                     strides:(NSArray<NSNumber*>*)strides
                                 deallocator:(void (^_Nullable)(void* bytes))deallocator
                                       error:(NSError**)error {
  if (!(self = [super init])) return nil;
  const size_t element = element_size(dataType);
  if (element == 0 || [shape count] != [strides count] || !dataPointer) {
    set_error(error, element == 0 ? "unsupported multi-array data type"
                                  : "shape and strides differ in length, or no data");
    [self release];
    return nil;
  }
  auto* s = new ArrayStorage;
  s->shape = ints(shape);
  s->strides = ints(strides);
  s->type = dataType;
  s->bytes = span_bytes(s->shape, s->strides, element);
  s->data = dataPointer;
  if (deallocator) s->deallocator = Block_copy(deallocator);
  _standIn = s;
  return self;
}

- (void)dealloc {
  if (_standIn) {
    ArrayStorage* s = &storage(self);
    if (s->owned) free(s->data);
    if (s->deallocator) {
      s->deallocator(s->data);
      Block_release(s->deallocator);
    }
    delete s;
  }
  [super dealloc];
}

- (MLMultiArrayDataType)dataType {
  return storage(self).type;
}
- (NSArray<NSNumber*>*)shape {
  return numbers(storage(self).shape);
}
- (NSArray<NSNumber*>*)strides {
  return numbers(storage(self).strides);
}
- (NSInteger)count {
  NSInteger n = 1;
  for (int64_t d : storage(self).shape) n *= d;
  return n;
}

- (void)getBytesWithHandler:(void (^)(const void* bytes, NSInteger size))handler {
  handler(storage(self).data, static_cast<NSInteger>(storage(self).bytes));
}

- (void)getMutableBytesWithHandler:(void (^)(void* mutableBytes, NSInteger size,
                                             NSArray<NSNumber*>* strides))handler {
  handler(storage(self).data, static_cast<NSInteger>(storage(self).bytes), [self strides]);
}

@end

// (stand-in) Tensor <-> multi-array.
static bool tensor_from_array(MLMultiArray* array, coreml::Tensor* out, std::string* error) {
  const ArrayStorage& s = storage(array);
  coreml::DType dtype;
  if (!dtype_of(s.type, &dtype)) {
    *error = "unsupported multi-array data type";
    return false;
  }
  return run_catching(
      [&] {
        // A view over the array's memory with its strides, then a contiguous copy.
        std::vector<int64_t> strides = s.strides;
        coreml::Tensor view = coreml::Tensor::from_blob(s.data, s.shape, dtype, {}, strides);
        *out = view.clone();
      },
      error);
}

static MLMultiArray* padded_array_from_tensor(const coreml::Tensor& tensor, NSError** error) {
  MLMultiArrayDataType type;
  if (!data_type_of(tensor.dtype(), &type)) {
    set_error(error, std::string("the model produced a ") +
                         std::string(coreml::dtype_name(tensor.dtype())) +
                         " output, which multi-arrays cannot hold");
    return nil;
  }
  const size_t element = coreml::dtype_size(tensor.dtype());
  const auto strides = padded_strides(tensor.shape(), element, row_padding_bytes);
  MLMultiArray* array = [[[MLMultiArray alloc] initOwningShape:tensor.shape()
                                                       strides:strides
                                                      dataType:type
                                                         error:error] autorelease];
  if (!array) return nil;
  const coreml::Tensor source = tensor.contiguous();
  const auto& shape = tensor.shape();
  const int64_t count = source.numel();
  if (count == 0) return array;
  const int64_t row = shape.empty() ? 1 : shape.back();
  const size_t rank = shape.size();
  std::vector<int64_t> index(rank > 0 ? rank - 1 : 0, 0);
  const uint8_t* from = static_cast<const uint8_t*>(source.data());
  uint8_t* to = static_cast<uint8_t*>(storage(array).data);
  for (int64_t done = 0; done < count; done += row) {
    int64_t offset = 0;
    for (size_t i = 0; i + 1 < rank; ++i) offset += index[i] * strides[i];
    std::memcpy(to + offset * element, from + done * element, row * element);
    for (size_t i = index.size(); i-- > 0;) {
      if (++index[i] < shape[i]) break;
      index[i] = 0;
    }
  }
  return array;
}

// ---------------------------------------------------------------------------------------
@implementation MLFeatureValue

+ (instancetype)featureValueWithMultiArray:(MLMultiArray*)value {
  MLFeatureValue* feature = [[[MLFeatureValue alloc] init] autorelease];
  feature->_standIn = [value retain];
  return feature;
}

- (void)dealloc {
  [static_cast<MLMultiArray*>(_standIn) release];
  [super dealloc];
}

- (MLFeatureType)type {
  return _standIn ? MLFeatureTypeMultiArray : MLFeatureTypeInvalid;
}
- (nullable MLMultiArray*)multiArrayValue {
  return static_cast<MLMultiArray*>(_standIn);
}

@end

// ---------------------------------------------------------------------------------------
@implementation MLDictionaryFeatureProvider

- (nullable instancetype)initWithDictionary:(NSDictionary<NSString*, id>*)dictionary
                                      error:(NSError**)error {
  if (!(self = [super init])) return nil;
  for (NSString* key in dictionary) {
    id value = [dictionary objectForKey:key];
    if (![value isKindOfClass:[MLFeatureValue class]] &&
        ![value isKindOfClass:[MLMultiArray class]]) {
      set_error(error, std::string("feature '") + [key UTF8String] +
                           "' is neither an MLFeatureValue nor an MLMultiArray");
      [self release];
      return nil;
    }
  }
  NSMutableDictionary* values = [[NSMutableDictionary alloc] init];
  for (NSString* key in dictionary) {
    id value = [dictionary objectForKey:key];
    if ([value isKindOfClass:[MLMultiArray class]]) {
      value = [MLFeatureValue featureValueWithMultiArray:value];
    }
    [values setObject:value forKey:key];
  }
  _standIn = values;
  return self;
}

- (void)dealloc {
  [static_cast<NSMutableDictionary*>(_standIn) release];
  [super dealloc];
}

- (NSDictionary<NSString*, MLFeatureValue*>*)dictionary {
  return static_cast<NSDictionary*>(_standIn);
}
- (NSSet<NSString*>*)featureNames {
  return [NSSet setWithArray:[[self dictionary] allKeys]];
}
- (nullable MLFeatureValue*)featureValueForName:(NSString*)featureName {
  return [[self dictionary] objectForKey:featureName];
}

@end

// ---------------------------------------------------------------------------------------
@implementation MLPredictionOptions

- (void)dealloc {
  [static_cast<NSDictionary*>(_standIn) release];
  [super dealloc];
}
- (NSDictionary<NSString*, id>*)outputBackings {
  return _standIn ? static_cast<NSDictionary*>(_standIn) : [NSDictionary dictionary];
}
- (void)setOutputBackings:(NSDictionary<NSString*, id>*)backings {
  NSDictionary* copy = [backings copy];
  [static_cast<NSDictionary*>(_standIn) release];
  _standIn = copy;
}

@end

// ---------------------------------------------------------------------------------------
struct ConfigurationStorage {
  MLComputeUnits units = MLComputeUnitsAll;
  NSString* function_name = nil;  // retained copy
};

@implementation MLModelConfiguration

- (instancetype)init {
  if ((self = [super init])) _standIn = new ConfigurationStorage;
  return self;
}

- (void)dealloc {
  auto* s = static_cast<ConfigurationStorage*>(_standIn);
  if (s) [s->function_name release];
  delete s;
  [super dealloc];
}

- (id)copyWithZone:(NSZone*)zone {
  MLModelConfiguration* copy = [[MLModelConfiguration alloc] init];
  [copy setComputeUnits:[self computeUnits]];
  static_cast<ConfigurationStorage*>(copy->_standIn)->function_name =
      [static_cast<ConfigurationStorage*>(_standIn)->function_name copy];
  return copy;
}

- (BOOL)respondsToSelector:(SEL)selector {
  // functionName arrived with macOS 15.
  if (system_version < 15 && (sel_isEqual(selector, @selector(setFunctionName:)) ||
                              sel_isEqual(selector, @selector(functionName)))) {
    return NO;
  }
  return [super respondsToSelector:selector];
}

- (MLComputeUnits)computeUnits {
  return static_cast<ConfigurationStorage*>(_standIn)->units;
}
- (void)setComputeUnits:(MLComputeUnits)units {
  static_cast<ConfigurationStorage*>(_standIn)->units = units;
}
- (nullable NSString*)functionName {
  return static_cast<ConfigurationStorage*>(_standIn)->function_name;
}
- (void)setFunctionName:(nullable NSString*)name {
  if (system_version < 15) {
    [NSException raise:NSInvalidArgumentException
                format:@"-[MLModelConfiguration setFunctionName:]: unrecognized selector"];
  }
  auto* s = static_cast<ConfigurationStorage*>(_standIn);
  NSString* copy = [name copy];
  [s->function_name release];
  s->function_name = copy;
}

@end

// ---------------------------------------------------------------------------------------
// An MLState holds a native coreml::State; its tensors are lent to handlers as multi-arrays.
@implementation MLState

- (void)dealloc {
  delete static_cast<coreml::State*>(_standIn);
  [super dealloc];
}

- (void)getMultiArrayForStateNamed:(NSString*)stateName
                           handler:(void (^)(MLMultiArray* buffer))handler {
  auto* state = static_cast<coreml::State*>(_standIn);
  const auto& tensors = state->tensors();
  const auto it = tensors.find([stateName UTF8String]);
  if (it == tensors.end()) {
    [NSException raise:NSInvalidArgumentException
                format:@"MLState has no state named %@", stateName];
  }
  coreml::Tensor& tensor = const_cast<coreml::Tensor&>(it->second);
  MLMultiArrayDataType type;
  if (!data_type_of(tensor.dtype(), &type)) {
    [NSException raise:NSInvalidArgumentException format:@"state of an unsupported type"];
  }
  MLMultiArray* buffer =
      [[MLMultiArray alloc] initWithDataPointer:tensor.data()
                                          shape:numbers(tensor.shape())
                                       dataType:type
                                        strides:numbers(contiguous_strides(tensor.shape()))
                                    deallocator:nullptr
                                          error:nullptr];
  handler(buffer);
  [buffer release];
}

@end

// ---------------------------------------------------------------------------------------
struct ModelStorage {
  std::unique_ptr<coreml::Model> model;
  MLModelConfiguration* configuration = nil;  // retained copy
};

@implementation MLModel

+ (nullable NSURL*)compileModelAtURL:(NSURL*)modelURL error:(NSError**)error {
  namespace fs = std::filesystem;
  ++compiles;
  const fs::path source([[modelURL path] UTF8String]);
  std::string message;
  fs::path compiled;
  const bool ok = run_catching(
      [&] {
        const auto extension = source.extension().string();
        if (!fs::exists(source) || (extension != ".mlpackage" && extension != ".mlmodel")) {
          throw std::runtime_error(source.string() +
                                   ": not a .mlpackage or .mlmodel that could be compiled");
        }
        // Read it once, as the compiler would, so that a broken model fails here.
        (void)coreml::Model::load(source.string(), {.backend = coreml::Backend::kNative});
        const fs::path folder =
            fs::temp_directory_path() / ("coreml-stand-in-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(compiles.load()));
        compiled = folder / (source.stem().string() + ".mlmodelc");
        fs::create_directories(compiled);
        fs::copy(source, compiled / ("source" + extension), fs::copy_options::recursive);
      },
      &message);
  if (!ok) {
    set_error(error, "compiling failed: " + message);
    return nil;
  }
  return [NSURL fileURLWithPath:ns_string(compiled.string())];
}

+ (nullable instancetype)modelWithContentsOfURL:(NSURL*)url
                                  configuration:(MLModelConfiguration*)configuration
                                          error:(NSError**)error {
  namespace fs = std::filesystem;
  const fs::path folder([[url path] UTF8String]);
  fs::path source = folder;
  for (const char* name : {"source.mlpackage", "source.mlmodel"}) {
    if (fs::exists(folder / name)) source = folder / name;
  }
  std::string function;
  if (system_version >= 15 && [configuration functionName]) {
    function = [[configuration functionName] UTF8String];
  }
  last_units = static_cast<int>([configuration computeUnits]);
  last_function = function;
  std::unique_ptr<coreml::Model> model;
  std::string message;
  const bool ok = run_catching(
      [&] {
        model = std::make_unique<coreml::Model>(coreml::Model::load(
            source.string(), {.function = function, .backend = coreml::Backend::kNative}));
      },
      &message);
  if (!ok) {
    set_error(error, message);
    return nil;
  }
  MLModel* result = [[[MLModel alloc] init] autorelease];
  auto* s = new ModelStorage;
  s->model = std::move(model);
  s->configuration = [configuration copy];
  result->_standIn = s;
  return result;
}

- (void)dealloc {
  auto* s = static_cast<ModelStorage*>(_standIn);
  if (s) [s->configuration release];
  delete s;
  [super dealloc];
}

- (MLModelConfiguration*)configuration {
  return static_cast<ModelStorage*>(_standIn)->configuration;
}

- (BOOL)respondsToSelector:(SEL)selector {
  // MLState arrived with macOS 15.
  if (system_version < 15 &&
      (sel_isEqual(selector, @selector(newState)) ||
       sel_isEqual(selector, @selector(predictionFromFeatures:usingState:options:error:)))) {
    return NO;
  }
  return [super respondsToSelector:selector];
}

- (MLState*)newState {
  auto* s = static_cast<ModelStorage*>(_standIn);
  auto* state = new coreml::State;
  std::string message;
  if (!run_catching([&] { *state = s->model->make_state(); }, &message)) {
    delete state;
    [NSException raise:NSInternalInconsistencyException format:@"%s", message.c_str()];
  }
  MLState* result = [[MLState alloc] init];
  result->_standIn = state;
  return result;  // new…: the caller owns it
}

- (nullable id<MLFeatureProvider>)predictionFromFeatures:(id<MLFeatureProvider>)input
                                                 options:(MLPredictionOptions*)options
                                                   error:(NSError**)error {
  return [self predictWith:input state:nil error:error];
}

- (nullable id<MLFeatureProvider>)predictionFromFeatures:(id<MLFeatureProvider>)input
                                              usingState:(MLState*)state
                                                 options:(MLPredictionOptions*)options
                                                   error:(NSError**)error {
  if (!state) {
    set_error(error, "usingState: needs a state");
    return nil;
  }
  return [self predictWith:input state:state error:error];
}

// (stand-in) Runs the native model on the features; outputs come back with padded rows.
- (nullable id<MLFeatureProvider>)predictWith:(id<MLFeatureProvider>)input
                                        state:(MLState*)state
                                        error:(NSError**)error {
  auto* s = static_cast<ModelStorage*>(_standIn);
  coreml::Inputs inputs;
  for (NSString* name in [input featureNames]) {
    MLMultiArray* array = [[input featureValueForName:name] multiArrayValue];
    if (!array) {
      set_error(error, std::string("input '") + [name UTF8String] + "' is not a multi-array");
      return nil;
    }
    std::string message;
    if (!tensor_from_array(array, &inputs[[name UTF8String]], &message)) {
      set_error(error, std::string("input '") + [name UTF8String] + "': " + message);
      return nil;
    }
  }
  coreml::Outputs outputs;
  std::string message;
  const bool ok = run_catching(
      [&] {
        if (state) {
          outputs = s->model->predict(inputs, *static_cast<coreml::State*>(state->_standIn));
        } else {
          outputs = s->model->predict(inputs);
        }
      },
      &message);
  if (!ok) {
    set_error(error, message);
    return nil;
  }
  NSMutableDictionary* features = [NSMutableDictionary dictionary];
  for (const auto& [name, tensor] : outputs) {
    MLMultiArray* array = padded_array_from_tensor(tensor, error);
    if (!array) return nil;
    [features setObject:[MLFeatureValue featureValueWithMultiArray:array] forKey:ns_string(name)];
  }
  return [[[MLDictionaryFeatureProvider alloc] initWithDictionary:features
                                                            error:error] autorelease];
}

@end
