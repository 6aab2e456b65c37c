// A checkpoint's state.json, as resume, eval, export and consolidate read it: the typed train
// state and its tensor layout (sharded manifests included). What parses must write back to JSON
// that parses to the same state.
#include <nlohmann/json.hpp>

#include "../fuzz_util.h"
#include "crossover/checkpoint/checkpoint_format.h"
#include "crossover/checkpoint/train_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  crossover::fuzz::expect_clean_rejection([&] {
    const auto s = crossover::TrainState::from_json(j, "state.json");
    const auto format = crossover::CheckpointFormat::from_json(s.checkpoint_format, "state.json");
    const auto again = crossover::TrainState::from_json(s.to_json(), "state.json");
    if (again.to_json() != s.to_json()) std::abort();
    if (crossover::CheckpointFormat::from_json(format.to_json(), "state.json").to_json() !=
        format.to_json())
      std::abort();
  });
  return 0;
}
