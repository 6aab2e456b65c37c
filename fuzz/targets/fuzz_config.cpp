// Run config YAML, as `crossover train CONFIG` reads it: parse, apply, validate. A config that
// parses must also survive the round trip the run directory relies on (config.yaml, state.json):
// parse_config(dump_config(c)) == c.
#include <optional>

#include "../fuzz_util.h"
#include "crossover/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::optional<crossover::RunConfig> parsed;
  crossover::fuzz::expect_clean_rejection(
      [&] { parsed = crossover::parse_config(text, "fuzz.yaml"); });
  if (!parsed) return 0;
  const std::string dumped = crossover::dump_config(*parsed);
  try {
    if (crossover::parse_config(dumped, "config.yaml") == *parsed) return 0;
    std::fprintf(stderr, "the dumped config reads back different:\n%s\n", dumped.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "the dumped config does not read back: %s\n%s\n", e.what(),
                 dumped.c_str());
  }
  std::abort();
}
