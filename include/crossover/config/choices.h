// The closed choices of a run config (objective type, sharding, device, ...) as enums. The YAML
// spelling of each value is listed once, in its ChoiceNames table: the config loader parses a
// string into the enum there, error messages list the table, and dump_config writes it back.
// Code outside config/ compares enums, never the strings.
#pragma once

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crossover {

enum class ObjectiveType { kAr, kMdm };
enum class NoiseScheduleType { kLinear };
enum class LossWeight { kInverseT, kMaskFraction };
enum class AttentionImpl { kAuto, kSdpa, kPlain };
enum class LrShape { kCosine, kWsd, kConstant };
enum class ShardingKind { kNone, kDdp, kFsdp };
enum class CommBackend { kAuto, kGloo, kNccl };
enum class ProcessGroupMode { kAuto, kAlways };
enum class RecomputeChoice { kAuto, kFull, kNone };
enum class ReduceDtype { kFp32, kBf16 };
enum class GradReduce { kMicroBatch, kStep };
enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class DeviceChoice { kAuto, kCpu, kCuda };
enum class PrecisionChoice { kAuto, kFp32, kBf16 };

// Specialised for every choice enum: `values` pairs each enumerator with its YAML spelling.
template <class E>
struct ChoiceNames;

#define CROSSOVER_CHOICE_NAMES(E, ...)               \
  template <>                                        \
  struct ChoiceNames<E> {                            \
    static constexpr std::array values{__VA_ARGS__}; \
  }

CROSSOVER_CHOICE_NAMES(ObjectiveType, std::pair{ObjectiveType::kAr, "ar"},
                       std::pair{ObjectiveType::kMdm, "mdm"});
CROSSOVER_CHOICE_NAMES(NoiseScheduleType, std::pair{NoiseScheduleType::kLinear, "linear"});
CROSSOVER_CHOICE_NAMES(LossWeight, std::pair{LossWeight::kInverseT, "inverse_t"},
                       std::pair{LossWeight::kMaskFraction, "mask_fraction"});
CROSSOVER_CHOICE_NAMES(AttentionImpl, std::pair{AttentionImpl::kAuto, "auto"},
                       std::pair{AttentionImpl::kSdpa, "sdpa"},
                       std::pair{AttentionImpl::kPlain, "plain"});
CROSSOVER_CHOICE_NAMES(LrShape, std::pair{LrShape::kCosine, "cosine"},
                       std::pair{LrShape::kWsd, "wsd"}, std::pair{LrShape::kConstant, "constant"});
CROSSOVER_CHOICE_NAMES(ShardingKind, std::pair{ShardingKind::kNone, "none"},
                       std::pair{ShardingKind::kDdp, "ddp"},
                       std::pair{ShardingKind::kFsdp, "fsdp"});
CROSSOVER_CHOICE_NAMES(CommBackend, std::pair{CommBackend::kAuto, "auto"},
                       std::pair{CommBackend::kGloo, "gloo"},
                       std::pair{CommBackend::kNccl, "nccl"});
CROSSOVER_CHOICE_NAMES(ProcessGroupMode, std::pair{ProcessGroupMode::kAuto, "auto"},
                       std::pair{ProcessGroupMode::kAlways, "always"});
CROSSOVER_CHOICE_NAMES(RecomputeChoice, std::pair{RecomputeChoice::kAuto, "auto"},
                       std::pair{RecomputeChoice::kFull, "full"},
                       std::pair{RecomputeChoice::kNone, "none"});
CROSSOVER_CHOICE_NAMES(ReduceDtype, std::pair{ReduceDtype::kFp32, "fp32"},
                       std::pair{ReduceDtype::kBf16, "bf16"});
CROSSOVER_CHOICE_NAMES(GradReduce, std::pair{GradReduce::kMicroBatch, "micro_batch"},
                       std::pair{GradReduce::kStep, "step"});
CROSSOVER_CHOICE_NAMES(LogLevel, std::pair{LogLevel::kDebug, "debug"},
                       std::pair{LogLevel::kInfo, "info"}, std::pair{LogLevel::kWarn, "warn"},
                       std::pair{LogLevel::kError, "error"});
CROSSOVER_CHOICE_NAMES(DeviceChoice, std::pair{DeviceChoice::kAuto, "auto"},
                       std::pair{DeviceChoice::kCpu, "cpu"},
                       std::pair{DeviceChoice::kCuda, "cuda"});
CROSSOVER_CHOICE_NAMES(PrecisionChoice, std::pair{PrecisionChoice::kAuto, "auto"},
                       std::pair{PrecisionChoice::kFp32, "fp32"},
                       std::pair{PrecisionChoice::kBf16, "bf16"});

#undef CROSSOVER_CHOICE_NAMES

template <class E>
concept Choice = requires {
  ChoiceNames<E>::values;
};

template <Choice E>
std::string to_string(E value) {
  for (const auto& [v, name] : ChoiceNames<E>::values)
    if (v == value) return name;
  throw std::logic_error("a choice enum value without a name");
}

template <Choice E>
std::optional<E> parse_choice(std::string_view text) {
  for (const auto& [v, name] : ChoiceNames<E>::values)
    if (text == name) return v;
  return std::nullopt;
}

// The YAML spellings in declaration order, e.g. {"ar", "mdm"}.
template <Choice E>
std::vector<std::string> choice_names() {
  std::vector<std::string> names;
  for (const auto& [v, name] : ChoiceNames<E>::values) names.emplace_back(name);
  return names;
}

// "one of ar, mdm": how errors describe what a choice accepts.
template <Choice E>
std::string choice_list() {
  std::string s = "one of ";
  bool first = true;
  for (const auto& [v, name] : ChoiceNames<E>::values) {
    s += (first ? "" : ", ") + std::string(name);
    first = false;
  }
  return s;
}

// An optional choice from a command-line string: "" is none; anything else must be a name.
template <Choice E>
std::optional<E> parse_optional_choice(const std::string& text, const std::string& what) {
  if (text.empty()) return std::nullopt;
  if (auto v = parse_choice<E>(text)) return v;
  throw std::invalid_argument(what + ": expected " + choice_list<E>() + ", got \"" + text + "\"");
}

}  // namespace crossover
