// GNUstep's Foundation headers, when the compiler has blocks, include <objc/blocks_runtime.h>,
// a header of libobjc2. Debian's GNUstep runs on GCC's libobjc, which has none; the blocks
// runtime is libBlocksRuntime (libblocksruntime-dev), whose header is <Block.h>.
#pragma once
#include <Block.h>
