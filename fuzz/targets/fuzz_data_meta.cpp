// A data directory's meta.json (vocabulary size and special ids), as train, eval, export and
// import read it.
#include "../fuzz_util.h"
#include "crossover/data/data_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  crossover::fuzz::expect_clean_rejection([&] {
    const auto m = crossover::DataMeta::parse(text, "meta.json");
    if (m.vocab_size < 2 || m.eos_id < 0 || m.eos_id >= m.vocab_size) std::abort();
  });
  return 0;
}
