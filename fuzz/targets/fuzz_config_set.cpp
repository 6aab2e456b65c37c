// `--set key.path=value` overrides: one per input line, applied to the defaults, then the
// cross-field validation.
#include "../fuzz_util.h"
#include "crossover/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  crossover::fuzz::expect_clean_rejection([&] {
    crossover::RunConfig c;
    size_t begin = 0;
    while (begin <= text.size()) {
      const size_t end = std::min(text.find('\n', begin), text.size());
      crossover::apply_override(c, text.substr(begin, end - begin));
      begin = end + 1;
    }
    crossover::validate(c, "--set");
  });
  return 0;
}
