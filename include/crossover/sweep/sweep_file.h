// A sweep file (configs/sweeps/*.yaml) describes a grid of runs: one base run config, overrides
// shared by every point, a fixed total-token budget, axes whose cartesian product is the grid,
// and an evaluation schedule expressed in epochs or tokens (converted to eval.every per point,
// because points with different unique budgets have different steps per epoch).
//
// `only:` keeps a subset of the grid: a list of entries, each naming some axes and the values
// kept for them (one value or a list); a point is kept when it matches any entry. Values are
// written as in the axis (or as the point-name label: "t1.6M", a preset's name).
//
// Parsing checks the file's own structure and that every key it sets is a run-config key, with
// the same "file:line: key: message" errors as run configs; the values themselves are checked
// when the points are resolved (plan.h), by the run-config machinery.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace crossover {

// One `key.path=value` override written in the sweep file.
struct SweepSetting {
  std::string key;    // dotted run-config key, e.g. "model.layers"
  std::string value;  // the value as YAML text, e.g. "26", "0.5B", "[a.jsonl, b.jsonl]"
  std::string where;  // "configs/sweeps/x.yaml:12"
  std::string assignment() const { return key + "=" + value; }
};

// One value of an axis: a single setting (key axis) or a named set of settings (preset axis).
struct SweepAxisValue {
  std::string label;  // in point names: "ar", "u0.5B", "1b", "lr0.001"
  std::vector<SweepSetting> settings;
  std::string where;
};

struct SweepAxis {
  std::string name;      // a run-config key ("data.unique_tokens") or a preset axis ("model")
  bool presets = false;  // true: values are named override sets
  std::string where;
  std::vector<SweepAxisValue> values;
};

// How often points evaluate. Each rule gives an interval in steps; the smallest one wins.
struct EvalSchedule {
  double per_epoch = 0;      // evaluations per epoch of the point's unique subset
  int64_t every_tokens = 0;  // an evaluation every this many training tokens
  int64_t min_evals = 0;     // at least this many evaluations over the run
  std::string where;         // "" when the sweep file has no eval section
  bool given() const { return per_epoch > 0 || every_tokens > 0 || min_evals > 0; }
};

// One entry of `only:`: a grid point is kept when, for every axis named here, its value is one
// of the listed ones (axis name -> value labels).
struct SweepFilter {
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;
  std::string where;
};

struct SweepFile {
  std::string path;  // as given
  std::string text;  // the file's content (copied into the sweep directory)
  std::string description;
  std::string base;  // the base run config, resolved against the sweep file's directory
  std::string base_where;
  std::vector<SweepSetting> set;  // applied to every point, before the axes
  int64_t total_tokens = 0;       // 0 when a data.total_tokens axis sets it per point
  std::string total_where;
  std::vector<SweepAxis> axes;
  std::vector<SweepFilter> only;  // empty: the whole grid; else the points matching any entry
  EvalSchedule eval;
};

// Whether a point with these (axis, value label) pairs is kept by `sweep.only`.
bool keeps_point(const SweepFile& sweep,
                 const std::vector<std::pair<std::string, std::string>>& labels);

// Parses sweep YAML; `path` names it in errors and anchors `base`. Throws ConfigError.
SweepFile parse_sweep(const std::string& yaml_text, const std::string& path);
// Reads and parses a sweep file. Throws ConfigError.
SweepFile load_sweep(const std::string& path);

// A token count as it reads in point names and reports: 500000000 -> "0.5B", 50000 -> "50k",
// 1200000 -> "1.2M", 96000000000 -> "96B".
std::string compact_tokens(int64_t n);

}  // namespace crossover
