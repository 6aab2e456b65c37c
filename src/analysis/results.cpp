// Reads eval events from metrics.jsonl files. Lines that do not parse (a run writing while the
// report reads) are skipped; events are keyed by step so a history that repeats steps (it should
// not, the trainer drops them on resume) still yields one curve.
#include "crossover/analysis/results.h"

#include "crossover/analysis/lm_eval_results.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "crossover/util/lines.h"

namespace crossover {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double number(const nlohmann::json& obj, const char* key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : kNaN;
}

template <class T>
std::vector<T> array_of(const nlohmann::json& obj, const char* key) {
  std::vector<T> out;
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_number()) out.push_back(v.get<T>());
  return out;
}

// eval_detail.jsonl lines joined to the eval of their step; unreadable lines are skipped.
void read_details(const std::string& path, std::map<int64_t, EvalRecord>& by_step) {
  std::ifstream in(path);
  if (!in) return;
  int64_t line_number = 0;
  for (std::string line;;) {
    try {
      if (!read_bounded_line(in, line, path, ++line_number)) break;
    } catch (const std::exception& e) {
      spdlog::warn("{}", e.what());
      break;
    }
    const auto d = nlohmann::json::parse(line, nullptr, false);
    if (d.is_discarded() || !d.is_object() || !d.contains("step") || !d["step"].is_number_integer())
      continue;
    const auto it = by_step.find(d["step"].get<int64_t>());
    if (it == by_step.end()) continue;
    EvalRecord& rec = it->second;
    rec.windows = array_of<int64_t>(d, "val_windows");
    rec.window_loss = array_of<double>(d, "val_window_loss");
    if (rec.windows.size() != rec.window_loss.size()) rec.windows.clear(), rec.window_loss.clear();
    rec.predictions.clear();
    if (d.contains("tasks") && d["tasks"].is_object())
      for (const auto& [name, t] : d["tasks"].items()) {
        TaskPredictions p{array_of<int64_t>(t, "label"), array_of<int64_t>(t, "predicted")};
        if (!p.label.empty() && p.label.size() == p.predicted.size())
          rec.predictions[name] = std::move(p);
      }
  }
}

// The axes of a step that has no eval event (a checkpoint or train event gives them).
struct Axes {
  double tokens, epoch, flops;
};

// lm-eval's scores of the run's checkpoints (lm_eval_results.h) join the eval of their step as
// tasks lm_eval/<task>. A checkpoint step without an eval gets a record of its own, with the
// tokens of a metrics event at that step and no val loss, but only before the run's last eval:
// the report takes a run's last record as its final eval.
void join_lm_eval(const std::string& run_dir, const std::map<int64_t, Axes>& axes,
                  std::map<int64_t, EvalRecord>& by_step) {
  for (auto& [step, tasks] : read_lm_eval_results(run_dir)) {
    auto it = by_step.find(step);
    if (it == by_step.end()) {
      const auto a = axes.find(step);
      if (a == axes.end() || by_step.empty() || step > by_step.rbegin()->first) {
        spdlog::warn("{}/lm_eval/step_{}: {}; its lm-eval results are left out", run_dir, step,
                     a == axes.end() ? "no event of metrics.jsonl is at that step"
                                     : "after the run's last eval");
        continue;
      }
      EvalRecord rec;
      rec.step = step;
      rec.tokens = a->second.tokens;
      rec.epoch = a->second.epoch;
      rec.flops = a->second.flops;
      rec.val_loss = rec.val_loss_se = rec.val_ppl = kNaN;
      it = by_step.emplace(step, std::move(rec)).first;
    }
    for (auto& [name, scores] : tasks) it->second.tasks[name] = scores;
  }
}

}  // namespace

std::vector<bool> TaskPredictions::correct() const {
  std::vector<bool> out(label.size());
  for (size_t i = 0; i < label.size(); ++i) out[i] = predicted[i] == label[i];
  return out;
}

std::vector<PointResults> load_results(const Manifest& manifest) {
  std::vector<PointResults> out;
  for (const auto& p : manifest.points) {
    PointResults r;
    r.point = p;
    r.state = read_run_state(p.run_dir);
    r.unique_tokens = static_cast<double>(p.unique_tokens);
    std::map<int64_t, EvalRecord> by_step;
    std::map<int64_t, Axes> axes;
    const std::string path = (std::filesystem::path(p.run_dir) / "metrics.jsonl").string();
    std::ifstream in(path);
    int64_t line_number = 0;
    for (std::string line;;) {
      try {
        if (!in || !read_bounded_line(in, line, path, ++line_number)) break;
      } catch (const std::exception& e) {  // a line no run writes: the history ends before it
        spdlog::warn("{}", e.what());
        break;
      }
      const auto e = nlohmann::json::parse(line, nullptr, false);
      if (e.is_discarded() || !e.is_object() || !e.contains("kind")) continue;
      if (!e.contains("step") || !e["step"].is_number_integer()) continue;
      if (e["kind"] != "eval") {
        if (const double tokens = number(e, "tokens"); !std::isnan(tokens))
          axes[e["step"].get<int64_t>()] = {tokens, number(e, "epoch"), number(e, "flops")};
        continue;
      }
      EvalRecord rec;
      rec.step = e["step"].get<int64_t>();
      rec.tokens = number(e, "tokens");
      rec.epoch = number(e, "epoch");
      rec.flops = number(e, "flops");
      rec.val_loss = number(e, "val_loss");
      rec.val_loss_se = number(e, "val_loss_se");
      rec.val_ppl = number(e, "val_ppl");
      if (std::isnan(rec.tokens)) continue;
      const double unique = number(e, "unique_tokens");
      if (unique > 0) r.unique_tokens = unique;
      if (e.contains("tasks") && e["tasks"].is_object())
        for (const auto& [name, t] : e["tasks"].items()) {
          if (!t.is_object()) continue;
          rec.tasks[name] = {number(t, "acc"),       number(t, "acc_norm"),  number(t, "delta_nll"),
                             number(t, "nll_right"), number(t, "nll_wrong"), number(t, "examples")};
        }
      by_step[rec.step] = std::move(rec);
    }
    read_details((std::filesystem::path(p.run_dir) / "eval_detail.jsonl").string(), by_step);
    join_lm_eval(p.run_dir, axes, by_step);
    for (auto& [step, rec] : by_step) r.evals.push_back(std::move(rec));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace crossover
