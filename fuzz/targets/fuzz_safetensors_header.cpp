// The safetensors header (checkpoints, and the Hugging Face checkpoints `import hf` reads): a
// header that parses must describe tensors that lie inside the file's data section.
#include "../fuzz_util.h"
#include "crossover/util/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  crossover::fuzz::expect_clean_rejection([&] {
    const auto h = crossover::safetensors::parse_header(data, size, "fuzz.safetensors");
    for (const auto& [name, e] : h.entries)
      if (e.begin > e.end || h.data_offset + e.end > size) std::abort();
  });
  return 0;
}
