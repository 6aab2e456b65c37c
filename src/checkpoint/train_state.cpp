#include "crossover/checkpoint/train_state.h"

#include <stdexcept>
#include <type_traits>

#include "crossover/checkpoint/checkpoint_format.h"
#include "crossover/version.h"

namespace crossover {

namespace {

// The philox counter-based RNG: every random decision is keyed by (training.seed, step, row),
// so there is no generator state to save.
constexpr const char* kRngKind = "philox4x32-10, counter-based: (training.seed, step, row)";

template <class T>
T required(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw std::runtime_error(where + ": missing key \"" + key + "\"");
  // A float where an integer belongs is refused: converting 1e75 to int64 is undefined.
  if constexpr (std::is_integral_v<T>)
    if (!j[key].is_number_integer())
      throw std::runtime_error(where + ": key \"" + key + "\": expected an integer");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(where + ": key \"" + key + "\" has the wrong type (" + e.what() + ")");
  }
}

template <class T>
T optional(const nlohmann::json& j, const char* key, T fallback, const std::string& where) {
  return j.contains(key) ? required<T>(j, key, where) : fallback;
}

template <class E>
E required_choice(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto text = required<std::string>(j, key, where);
  const auto v = parse_choice<E>(text);
  if (!v)
    throw std::runtime_error(where + ": key \"" + key + "\" is \"" + text + "\", expected " +
                             choice_list<E>());
  return *v;
}

}  // namespace

nlohmann::json TrainState::to_json() const {
  nlohmann::json j = {{"step", step},
                      {"tokens", tokens},
                      {"unique_tokens", unique_tokens},
                      {"epoch", epoch},
                      {"flops", flops},
                      {"sampler", sampler},
                      {"optimizer_steps", optimizer_steps},
                      {"bad_steps", bad_steps},
                      {"config", config},
                      {"crossover_version", crossover_version},
                      {"objective", to_string(objective)},
                      {"world_size", world_size},
                      {"sharding", to_string(sharding)},
                      {"checkpoint_format", checkpoint_format},
                      {"rng", {{"kind", kRngKind}, {"seed", seed}}}};
  if (!imported_from.is_null()) j["imported_from"] = imported_from;
  if (!consolidated_from.is_null()) j["consolidated_from"] = consolidated_from;
  return j;
}

TrainState TrainState::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw std::runtime_error(where + ": expected a JSON object");
  TrainState s;
  s.step = required<int64_t>(j, "step", where);
  s.tokens = optional<int64_t>(j, "tokens", 0, where);
  s.unique_tokens = optional<int64_t>(j, "unique_tokens", 0, where);
  s.epoch = optional<double>(j, "epoch", 0.0, where);
  s.flops = optional<double>(j, "flops", 0.0, where);
  s.sampler = required<nlohmann::json>(j, "sampler", where);
  s.optimizer_steps = required<int64_t>(j, "optimizer_steps", where);
  s.bad_steps = optional<int64_t>(j, "bad_steps", 0, where);
  s.config = required<std::string>(j, "config", where);
  s.crossover_version = optional<std::string>(j, "crossover_version", "", where);
  s.objective = required_choice<ObjectiveType>(j, "objective", where);
  s.world_size = optional<int64_t>(j, "world_size", 1, where);
  s.sharding = j.contains("sharding") ? required_choice<ShardingKind>(j, "sharding", where)
                                      : ShardingKind::kNone;
  s.checkpoint_format = required<nlohmann::json>(j, "checkpoint_format", where);
  CheckpointFormat::from_json(s.checkpoint_format, where);  // checked here, read by the loaders
  if (j.contains("rng") && j["rng"].is_object())
    s.seed = optional<int64_t>(j["rng"], "seed", 0, where);
  if (j.contains("imported_from")) s.imported_from = j["imported_from"];
  if (j.contains("consolidated_from")) s.consolidated_from = j["consolidated_from"];
  return s;
}

RunConfig TrainState::run_config(const std::string& where) const {
  return parse_config(config, where);
}

}  // namespace crossover
