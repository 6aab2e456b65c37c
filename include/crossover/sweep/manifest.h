// DIR/manifest.json: the contract between `sweep plan` and `sweep run | slurm | report`.
// Written once per plan (atomically, after the run directories), read by everything else, so
// those commands never re-resolve the sweep file and never disagree about the points.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace crossover {

struct SweepPlan;

struct ManifestPoint {
  int index = 0;  // position in the grid; the SLURM array index
  std::string name, group, family, objective;
  std::vector<std::pair<std::string, std::string>> labels;  // (axis, value label)
  std::vector<std::string> overrides;                       // key=value, in application order
  int64_t unique_tokens = -1;                               // nominal; -1 unknown
  int64_t total_tokens = 0;
  int64_t tokens_per_step = 0;
  int64_t steps = 0;
  int64_t eval_every = 0;
  int64_t threads = 0;      // hardware.threads of the config (0: the runner decides)
  int64_t seed = 0;         // training.seed
  double epochs = 0;        // NaN when unknown
  double flops = 0;         // NaN when unknown
  std::string config_path;  // absolute
  std::string run_dir;      // absolute
};

struct Manifest {
  std::string dir;      // the sweep directory, absolute
  std::string source;   // the sweep file it was planned from
  std::string workdir;  // where relative config paths resolve; runs start there
  std::string description;
  int64_t total_tokens = 0;
  std::vector<std::string> axes;
  std::vector<ManifestPoint> points;
};

// The manifest of a plan (paths relative to the sweep directory).
nlohmann::ordered_json manifest_json(const SweepPlan& plan);
// Reads DIR/manifest.json; errors name the file and the field.
Manifest read_manifest(const std::string& sweep_dir);

}  // namespace crossover
