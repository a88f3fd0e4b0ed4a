// Which symbols the library exports. It is compiled with -fvisibility=hidden: only declarations
// between COREML_PUBLIC_BEGIN and COREML_PUBLIC_END (the public headers, and the few internal
// helpers that the llm and hub layers share with core) are visible outside libcoreml_*.so, or
// outside a shared object that links the static libraries.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define COREML_PUBLIC_BEGIN _Pragma("GCC visibility push(default)")
#define COREML_PUBLIC_END _Pragma("GCC visibility pop")
#else
#define COREML_PUBLIC_BEGIN
#define COREML_PUBLIC_END
#endif
