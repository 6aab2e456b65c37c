// Multiple-choice task files (JSONL, HellaSwag or MMLU form), as eval and training read them.
#include "../fuzz_util.h"
#include "crossover/eval/tasks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = crossover::fuzz::scratch_dir() + "/task.jsonl";
  crossover::fuzz::write_input(path, data, size);
  crossover::fuzz::expect_clean_rejection([&] { (void)crossover::read_task(path); });
  return 0;
}
