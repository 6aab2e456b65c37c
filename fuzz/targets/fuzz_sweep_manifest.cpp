// A sweep directory's manifest.json, as `sweep run`, `status`, `slurm` and `report` read it.
#include <filesystem>

#include "../fuzz_util.h"
#include "crossover/sweep/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = crossover::fuzz::scratch_dir() + "/sweep";
  static const bool made = std::filesystem::create_directories(dir) || true;
  (void)made;
  crossover::fuzz::write_input(dir + "/manifest.json", data, size);
  crossover::fuzz::expect_clean_rejection([&] { (void)crossover::read_manifest(dir); });
  return 0;
}
