// The `coreml` command line tool.
#include <cstdio>

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::puts("coreml: under construction");
  return 0;
}
