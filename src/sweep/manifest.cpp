// manifest.json, both directions. Unknown numbers (FLOPs without a vocabulary, epochs of an
// `all` budget without meta.json) are JSON null, never a made-up value.
#include "crossover/sweep/manifest.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "crossover/sweep/plan.h"
#include "crossover/version.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

// The sweep's total_tokens, or with a data.total_tokens axis the largest point's (each point
// records its own).
int64_t manifest_total(const SweepPlan& plan) {
  int64_t total = plan.sweep.total_tokens;
  for (const auto& p : plan.points) total = std::max(total, p.total_tokens);
  return total;
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

template <class T>
nlohmann::ordered_json or_null(const std::optional<T>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

nlohmann::ordered_json manifest_json(const SweepPlan& plan) {
  using json = nlohmann::ordered_json;
  json axes = json::array();
  for (const auto& a : plan.sweep.axes) {
    json labels = json::array();
    for (const auto& v : a.values) labels.push_back(v.label);
    axes.push_back({{"name", a.name}, {"presets", a.presets}, {"labels", labels}});
  }
  json points = json::array();
  int index = 0;
  for (const auto& p : plan.points) {
    json labels = json::array();
    for (const auto& [axis, label] : p.labels) labels.push_back({{"axis", axis}, {"label", label}});
    json overrides = json::array();
    for (const auto& s : p.settings) overrides.push_back(s.assignment());
    points.push_back({
        {"index", index++},
        {"name", p.name},
        {"group", p.group},
        {"family", p.family},
        {"labels", labels},
        {"run_dir", "runs/" + p.name},
        {"config", "runs/" + p.name + "/config.yaml"},
        {"overrides", overrides},
        {"objective", to_string(p.config.objective.type)},
        {"unique_tokens", p.unique_tokens >= 0 ? json(p.unique_tokens) : json(nullptr)},
        {"total_tokens", p.total_tokens},
        {"epochs", std::isfinite(p.epochs) ? json(p.epochs) : json(nullptr)},
        {"seq_len", p.config.data.seq_len},
        {"global_batch", p.config.training.global_batch},
        {"tokens_per_step", p.tokens_per_step},
        {"steps", p.steps},
        {"eval_every", p.config.eval.every},
        {"threads", p.config.hardware.threads},
        {"seed", p.config.training.seed},
        {"params", or_null(p.params)},
        {"flops", or_null(p.flops)},
    });
  }
  return {
      {"format", 1},
      {"crossover_version", kVersion},
      {"created", utc_now()},
      {"source", plan.sweep.path},
      {"sweep", "sweep.yaml"},
      {"description", plan.sweep.description},
      {"workdir", plan.workdir},
      {"base", plan.sweep.base},
      {"total_tokens", manifest_total(plan)},
      {"vocab_size", or_null(plan.vocab_size)},
      {"flops_note", plan.data_note.empty()
                         ? json("nominal training FLOPs: 6 x matmul parameters + attention, "
                                "identical for both objectives")
                         : json(plan.data_note)},
      {"axes", axes},
      {"points", points},
  };
}

Manifest read_manifest(const std::string& sweep_dir) {
  const fs::path dir = fs::absolute(sweep_dir).lexically_normal();
  const std::string path = (dir / "manifest.json").string();
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error(path + ": not found; is " + sweep_dir +
                             " a sweep directory (crossover sweep plan SWEEP.yaml --out DIR)?");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw std::runtime_error(path + ": malformed JSON");

  auto need = [&](const nlohmann::json& obj, const char* key, const std::string& what) {
    if (!obj.contains(key) || obj[key].is_null())
      throw std::runtime_error(path + ": " + what + key + ": missing");
    return obj[key];
  };
  // Integers are checked before conversion: a float such as 1e75 read as int64 is undefined.
  auto integer = [&](const nlohmann::json& v, const std::string& what) -> int64_t {
    if (!v.is_number_integer())
      throw std::runtime_error(path + ": " + what + ": expected an integer");
    return v.get<int64_t>();
  };
  auto optional_integer = [&](const nlohmann::json& obj, const char* key, const std::string& what) {
    return obj.contains(key) ? integer(obj[key], what + key) : int64_t{0};
  };
  auto number_or_nan = [](const nlohmann::json& v) {
    return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
  };
  Manifest m;
  try {
    m.dir = dir.string();
    m.source = j.value("source", "");
    m.workdir = j.value("workdir", "");
    m.description = j.value("description", "");
    m.total_tokens = integer(need(j, "total_tokens", ""), "total_tokens");
    for (const auto& a : j.value("axes", nlohmann::json::array()))
      m.axes.push_back(a.at("name").get<std::string>());
    for (const auto& p : need(j, "points", "")) {
      ManifestPoint mp;
      const std::string what = "points[" + std::to_string(m.points.size()) + "].";
      mp.index = static_cast<int>(integer(need(p, "index", what), what + "index"));
      mp.name = need(p, "name", what).get<std::string>();
      mp.group = p.value("group", mp.name);
      mp.family = p.value("family", std::string("all"));
      mp.objective = need(p, "objective", what).get<std::string>();
      for (const auto& l : p.value("labels", nlohmann::json::array()))
        mp.labels.emplace_back(l.at("axis").get<std::string>(), l.at("label").get<std::string>());
      for (const auto& o : p.value("overrides", nlohmann::json::array()))
        mp.overrides.push_back(o.get<std::string>());
      mp.unique_tokens = p.contains("unique_tokens") && p["unique_tokens"].is_number_integer()
                             ? p["unique_tokens"].get<int64_t>()
                             : -1;
      mp.total_tokens = integer(need(p, "total_tokens", what), what + "total_tokens");
      mp.tokens_per_step = optional_integer(p, "tokens_per_step", what);
      mp.steps = optional_integer(p, "steps", what);
      mp.eval_every = optional_integer(p, "eval_every", what);
      mp.threads = optional_integer(p, "threads", what);
      mp.seed = optional_integer(p, "seed", what);
      mp.epochs = number_or_nan(p.value("epochs", nlohmann::json()));
      mp.flops = number_or_nan(p.value("flops", nlohmann::json()));
      mp.run_dir = (dir / need(p, "run_dir", what).get<std::string>()).lexically_normal().string();
      mp.config_path =
          (dir / need(p, "config", what).get<std::string>()).lexically_normal().string();
      m.points.push_back(std::move(mp));
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": unexpected content: " + e.what());
  }
  return m;
}

}  // namespace crossover
