// metrics.jsonl as the sweep commands read it while runs write it (status, report): the run
// state and every event.
#include <filesystem>

#include "../fuzz_util.h"
#include "crossover/sweep/run_state.h"
#include "crossover/util/metrics.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string run = crossover::fuzz::scratch_dir();
  const std::string path = run + "/metrics.jsonl";
  crossover::fuzz::write_input(path, data, size);
  // The run state never throws: a torn or foreign line is skipped.
  (void)crossover::read_run_state(run);
  crossover::fuzz::expect_clean_rejection([&] { (void)crossover::read_metrics(path); });
  return 0;
}
