#include "crossover/checkpoint/checkpoint_format.h"

#include <stdexcept>

namespace crossover {

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": checkpoint_format" + what);
}

int64_t integer(const nlohmann::json& j, const char* key, const std::string& where,
                const std::string& path) {
  if (!j.contains(key) || !j[key].is_number_integer())
    fail(where, path + "." + key + ": expected an integer");
  return j[key].get<int64_t>();
}

}  // namespace

nlohmann::json CheckpointFormat::to_json() const {
  if (!sharded) return {{"kind", "full"}};
  nlohmann::json gs = nlohmann::json::array();
  for (const auto& g : groups)
    gs.push_back({{"name", g.name}, {"numel", g.numel}, {"shard_numel", g.shard_numel}});
  return {{"kind", "sharded"}, {"world_size", world_size}, {"groups", gs}};
}

CheckpointFormat CheckpointFormat::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string())
    fail(where, ": expected an object with a kind (full or sharded)");
  CheckpointFormat f;
  const std::string kind = j["kind"].get<std::string>();
  if (kind == "full") return f;
  if (kind != "sharded") fail(where, ".kind: expected full or sharded, got " + kind);
  f.sharded = true;
  f.world_size = integer(j, "world_size", where, "");
  if (f.world_size < 1 || f.world_size > kMaxCheckpointWorldSize)
    fail(where, ".world_size: " + std::to_string(f.world_size) + " is not in [1, " +
                    std::to_string(kMaxCheckpointWorldSize) + "]");
  if (!j.contains("groups") || !j["groups"].is_array())
    fail(where, ".groups: expected a list of {name, numel, shard_numel}");
  for (size_t i = 0; i < j["groups"].size(); ++i) {
    const auto& g = j["groups"][i];
    const std::string path = ".groups[" + std::to_string(i) + "]";
    if (!g.is_object() || !g.contains("name") || !g["name"].is_string())
      fail(where, path + ".name: expected a string");
    Group group{g["name"].get<std::string>(), integer(g, "numel", where, path),
                integer(g, "shard_numel", where, path)};
    int64_t covered = 0;
    if (group.numel < 0 || group.shard_numel < 0 ||
        __builtin_mul_overflow(group.shard_numel, f.world_size, &covered) || covered < group.numel)
      fail(where, path + ": " + std::to_string(f.world_size) + " shards of " +
                      std::to_string(group.shard_numel) + " elements cannot hold the group's " +
                      std::to_string(group.numel));
    f.groups.push_back(std::move(group));
  }
  return f;
}

}  // namespace crossover
