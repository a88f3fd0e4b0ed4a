// A stand-in for the part of Apple's CoreML.framework that src/backends/coreml_apple uses, for
// building and testing that backend on Linux (GNUstep Foundation). Declarations follow Apple's
// public documentation of each class (names, selectors, enum values, availability); the
// implementation (stand_in.mm) runs models on coreml-cpp's native runtime. Tests only: never
// part of the library. Each class has one private instance variable for the stand-in's storage
// (GCC's Objective-C runtime, under GNUstep, only allows instance variables in @interface).
#pragma once

#import <Foundation/Foundation.h>

#ifndef API_AVAILABLE
#define API_AVAILABLE(...)
#endif

#pragma clang assume_nonnull begin

typedef NS_ENUM(NSInteger, MLComputeUnits) {
  MLComputeUnitsCPUOnly = 0,
  MLComputeUnitsCPUAndGPU = 1,
  MLComputeUnitsAll = 2,
  MLComputeUnitsCPUAndNeuralEngine = 3,
};

typedef NS_ENUM(NSInteger, MLMultiArrayDataType) {
  MLMultiArrayDataTypeDouble = 0x10000 | 64,
  MLMultiArrayDataTypeFloat64 = 0x10000 | 64,
  MLMultiArrayDataTypeFloat32 = 0x10000 | 32,
  MLMultiArrayDataTypeFloat16 = 0x10000 | 16,
  MLMultiArrayDataTypeFloat = 0x10000 | 32,
  MLMultiArrayDataTypeInt32 = 0x20000 | 32,
};

typedef NS_ENUM(NSInteger, MLFeatureType) {
  MLFeatureTypeInvalid = 0,
  MLFeatureTypeInt64 = 1,
  MLFeatureTypeDouble = 2,
  MLFeatureTypeString = 3,
  MLFeatureTypeImage = 4,
  MLFeatureTypeMultiArray = 5,
  MLFeatureTypeDictionary = 6,
  MLFeatureTypeSequence = 7,
  MLFeatureTypeState = 8,
};

extern NSString* const MLModelErrorDomain;

@interface MLMultiArray : NSObject {
 @public
  void* _Nullable _standIn;  // the stand-in's own storage (stand_in.mm), not Apple API
}
@property(readonly, nonatomic) MLMultiArrayDataType dataType;
@property(readonly, nonatomic) NSArray<NSNumber*>* shape;
@property(readonly, nonatomic) NSArray<NSNumber*>* strides;
@property(readonly, nonatomic) NSInteger count;
- (nullable instancetype)initWithShape:(NSArray<NSNumber*>*)shape
                              dataType:(MLMultiArrayDataType)dataType
                                 error:(NSError**)error;
- (nullable instancetype)initWithDataPointer:(void*)dataPointer
                                       shape:(NSArray<NSNumber*>*)shape
                                    dataType:(MLMultiArrayDataType)dataType
                                     strides:(NSArray<NSNumber*>*)strides
                                 deallocator:(void (^_Nullable)(void* bytes))deallocator
                                       error:(NSError**)error;
- (void)getBytesWithHandler:(void (^)(const void* bytes, NSInteger size))handler;
- (void)getMutableBytesWithHandler:(void (^)(void* mutableBytes, NSInteger size,
                                             NSArray<NSNumber*>* strides))handler;
@end

@interface MLFeatureValue : NSObject {
 @public
  void* _Nullable _standIn;  // the stand-in's own storage (stand_in.mm), not Apple API
}
@property(readonly, nonatomic) MLFeatureType type;
@property(readonly, nullable, nonatomic) MLMultiArray* multiArrayValue;
+ (instancetype)featureValueWithMultiArray:(MLMultiArray*)value;
@end

@protocol MLFeatureProvider
@property(readonly, nonatomic) NSSet<NSString*>* featureNames;
- (nullable MLFeatureValue*)featureValueForName:(NSString*)featureName;
@end

@interface MLDictionaryFeatureProvider : NSObject <MLFeatureProvider> {
 @public
  void* _Nullable _standIn;  // the stand-in's own storage (stand_in.mm), not Apple API
}
@property(readonly, nonatomic) NSDictionary<NSString*, MLFeatureValue*>* dictionary;
- (nullable instancetype)initWithDictionary:(NSDictionary<NSString*, id>*)dictionary
                                      error:(NSError**)error;
@end

@interface MLPredictionOptions : NSObject {
 @public
  void* _Nullable _standIn;  // the stand-in's own storage (stand_in.mm), not Apple API
}
@property(readwrite, copy, nonatomic)
    NSDictionary<NSString*, id>* outputBackings API_AVAILABLE(macos(14.0), ios(17.0));
@end

@interface MLModelConfiguration : NSObject <NSCopying> {
 @public
  void* _Nullable _standIn;  // the stand-in's own storage (stand_in.mm), not Apple API
}
@property(readwrite, nonatomic) MLComputeUnits computeUnits;
@property(readwrite, copy, nullable, nonatomic)
    NSString* functionName API_AVAILABLE(macos(15.0), ios(18.0));
@end

API_AVAILABLE(macos(15.0), ios(18.0))
@interface MLState : NSObject {
 @public
  void* _Nullable _standIn;  // the stand-in's own storage (stand_in.mm), not Apple API
}
- (void)getMultiArrayForStateNamed:(NSString*)stateName
                           handler:(void (^)(MLMultiArray* buffer))handler;
@end

@interface MLModel : NSObject {
 @public
  void* _Nullable _standIn;  // the stand-in's own storage (stand_in.mm), not Apple API
}
@property(readonly, nonatomic) MLModelConfiguration* configuration;
+ (nullable NSURL*)compileModelAtURL:(NSURL*)modelURL error:(NSError**)error;
+ (nullable instancetype)modelWithContentsOfURL:(NSURL*)url
                                  configuration:(MLModelConfiguration*)configuration
                                          error:(NSError**)error;
- (nullable id<MLFeatureProvider>)predictionFromFeatures:(id<MLFeatureProvider>)input
                                                 options:(MLPredictionOptions*)options
                                                   error:(NSError**)error;
- (MLState*)newState API_AVAILABLE(macos(15.0), ios(18.0));
- (nullable id<MLFeatureProvider>)predictionFromFeatures:(id<MLFeatureProvider>)input
                                              usingState:(MLState*)state
                                                 options:(MLPredictionOptions*)options
                                                   error:(NSError**)error
    API_AVAILABLE(macos(15.0), ios(18.0));
@end

#pragma clang assume_nonnull end
