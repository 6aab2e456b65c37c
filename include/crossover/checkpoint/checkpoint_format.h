// How a checkpoint's tensors are laid out (state.json "checkpoint_format"), parsed and checked
// without LibTorch (fuzzed with state.json: fuzz/targets/fuzz_state_json.cpp):
//   {"kind": "full"}                        model.safetensors + optimizer.safetensors
//   {"kind": "sharded", "world_size": W,    rank r's model/optimizer.rank<r>-of-<W>.safetensors
//    "groups": [{"name", "numel", "shard_numel"}, ...]}   hold elements [r s, (r + 1) s) of each
//                                           group's flat buffer, s = shard_numel
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crossover {

// More ranks than any cluster runs one job on: a larger world_size is a corrupt file.
inline constexpr int64_t kMaxCheckpointWorldSize = int64_t{1} << 20;

struct CheckpointFormat {
  struct Group {
    std::string name;
    int64_t numel = 0;
    int64_t shard_numel = 0;
  };
  bool sharded = false;
  int64_t world_size = 1;
  std::vector<Group> groups;  // sharded only

  nlohmann::json to_json() const;
  // Errors name `where` and the key: an unknown kind, a world size outside
  // [1, kMaxCheckpointWorldSize], a group whose shards cannot cover it.
  static CheckpointFormat from_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace crossover
