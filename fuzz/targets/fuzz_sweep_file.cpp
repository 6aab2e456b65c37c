// Sweep files (configs/sweeps/*.yaml), as `sweep plan` parses them.
#include "../fuzz_util.h"
#include "crossover/sweep/sweep_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  crossover::fuzz::expect_clean_rejection(
      [&] { (void)crossover::parse_sweep(text, "sweeps/fuzz.yaml"); });
  return 0;
}
