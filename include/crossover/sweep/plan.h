// Sweep planning: a sweep file -> its grid of fully resolved run configs, and the sweep
// directory that `sweep run`, `sweep slurm` and `sweep report` work from:
//
//   DIR/sweep.yaml                 copy of the sweep file
//   DIR/manifest.json              points, their overrides, budgets, steps, planned FLOPs (manifest.h)
//   DIR/runs/<point>/config.yaml   the point's resolved run config; the run directory itself
//
// Every value goes through the run-config machinery (parse_config with `--set` overrides), so a
// bad axis value fails at plan time, and errors point at the sweep file's line.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crossover/config/config.h"
#include "crossover/sweep/sweep_file.h"

namespace crossover {

// The fewest MDM estimator samples per task option a sweep scores with, unless its file sets
// eval.task_samples itself.
inline constexpr int64_t kSweepTaskSamples = 64;

struct PlannedPoint {
  std::string name;    // axis labels joined in axis order, e.g. "ar-u0.5B-1b"
  std::string group;   // the name without objective and seed labels: one AR/MDM comparison
  std::string family;  // the name without objective, budget and seed labels (one R* fit each)
  std::vector<std::pair<std::string, std::string>> labels;  // (axis, value label)
  std::vector<SweepSetting> settings;  // applied over the base config, in order
  RunConfig config;
  int64_t unique_tokens = -1;  // nominal U; -1 when `all` and the data's size is unknown
  int64_t total_tokens = 0;
  int64_t tokens_per_step = 0;
  int64_t steps = 0;  // total_tokens / tokens_per_step, as the sampler counts them
  double epochs = std::numeric_limits<double>::quiet_NaN();  // total / unique
  std::optional<int64_t> params;
  std::optional<double> flops;  // planned training FLOPs (model/flops.h)
};

struct SweepPlan {
  SweepFile sweep;
  std::string workdir;  // where relative paths in the configs (data.path, eval.tasks) resolve
  std::optional<int64_t> vocab_size;   // from the data directory's meta.json
  std::optional<int64_t> data_tokens;  // the training split's stream length (tokens + eos)
  std::string data_note;  // why vocabulary-dependent numbers are unknown; "" when known
  std::vector<PlannedPoint> points;
};

// Resolves every point of the grid. Relative data paths resolve against `workdir` (the
// current directory when empty), as they will when the runs start. `assumed_vocab` stands in
// for the vocabulary when the data is not prepared yet (no meta.json). Throws ConfigError.
SweepPlan plan_sweep(const SweepFile& sweep, const std::string& workdir = "",
                     std::optional<int64_t> assumed_vocab = std::nullopt);

// Writes the sweep directory. An existing directory is extended, never rewritten: points
// already there must be in the new plan with the same resolved config (else nothing is written
// and the error names the point and the keys); only missing points are added.
struct PlanWriteResult {
  std::vector<std::string> created, kept;
};
PlanWriteResult write_plan(const SweepPlan& plan, const std::string& out_dir);

// Keys a run may change without changing the experiment (ignored when re-planning).
bool is_runtime_key(const std::string& key);

}  // namespace crossover
