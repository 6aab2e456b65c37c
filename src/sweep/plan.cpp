// Sweep planning: expands the grid, resolves each point's run config through the run-config
// machinery, derives budgets, steps, eval cadence and FLOPs, and writes the sweep directory
// without ever rewriting a run that already exists.
#include "crossover/sweep/plan.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "crossover/config/token_count.h"
#include "crossover/model/flops.h"
#include "crossover/sweep/manifest.h"
#include "crossover/util/fs.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

// Runs parse_config with the point's settings as `--set` overrides, and turns an error about
// an override ("--set key=value: key: ...") into one about the sweep file's line.
RunConfig resolve_config(const std::string& base_text, const std::string& base_path,
                         const std::vector<SweepSetting>& settings, const std::string& point_name) {
  std::vector<std::string> overrides;
  for (const auto& s : settings) overrides.push_back(s.assignment());
  try {
    return parse_config(base_text, base_path, overrides);
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    for (const auto& s : settings) {
      const std::string prefix = "--set " + s.assignment() + ": ";
      if (message.rfind(prefix, 0) == 0)
        throw ConfigError(s.where + ": " + message.substr(prefix.size()) + " (point " + point_name +
                          ")");
    }
    throw ConfigError(message + " (point " + point_name + " of the sweep)");
  }
}

std::string join_labels(const std::vector<std::pair<std::string, std::string>>& labels,
                        const std::set<std::string>& skip) {
  std::string out;
  for (const auto& [axis, label] : labels) {
    if (skip.count(axis)) continue;
    out += (out.empty() ? "" : "-") + label;
  }
  return out.empty() ? "all" : out;
}

struct DataFacts {
  std::optional<int64_t> vocab, stream_tokens;
  std::string note;
};

// The vocabulary (for FLOPs) and the training split's size (for `all`) from meta.json.
DataFacts read_data_facts(const std::string& data_dir) {
  DataFacts f;
  const fs::path meta_path = fs::path(data_dir) / "meta.json";
  std::ifstream in(meta_path);
  if (!in) {
    f.note = meta_path.string() +
             " not found (prepare the data first): the vocabulary is unknown, so are FLOPs";
    return f;
  }
  const auto meta = nlohmann::json::parse(in, nullptr, false);
  if (meta.is_discarded() || !meta.is_object() || !meta.contains("vocab_size") ||
      !meta["vocab_size"].is_number_integer()) {
    f.note = meta_path.string() + " has no integer vocab_size: FLOPs unknown";
    return f;
  }
  f.vocab = meta["vocab_size"].get<int64_t>();
  // The subset stream is every training document followed by eos (data/sampler.h).
  const auto& train = meta.contains("train") ? meta["train"] : nlohmann::json();
  const auto integer = [&](const char* key) {
    return train.is_object() && train.contains(key) && train[key].is_number_integer()
               ? train[key].get<int64_t>()
               : int64_t{-1};
  };
  if (integer("tokens") >= 0)
    f.stream_tokens = integer("tokens") + std::max<int64_t>(0, integer("documents"));
  return f;
}

// eval.every in steps: the smallest interval any rule of the schedule asks for.
int64_t eval_every_steps(const EvalSchedule& e, const PlannedPoint& p) {
  int64_t every = p.steps;
  if (e.per_epoch > 0) {
    if (p.unique_tokens < 0)
      throw ConfigError(e.where + ": eval.per_epoch: point " + p.name +
                        " uses data.unique_tokens: all and the data directory's meta.json is "
                        "missing, so its epoch length is unknown; prepare the data first or "
                        "use eval.every_tokens");
    const double steps_per_epoch = static_cast<double>(p.unique_tokens) /
                                   static_cast<double>(p.tokens_per_step);
    every = std::min<int64_t>(every, static_cast<int64_t>(steps_per_epoch / e.per_epoch));
  }
  if (e.every_tokens > 0) every = std::min<int64_t>(every, e.every_tokens / p.tokens_per_step);
  if (e.min_evals > 0) every = std::min<int64_t>(every, p.steps / e.min_evals);
  return std::max<int64_t>(1, every);
}

// Points of one sweep must share the document order and the store: only then are the unique
// subsets nested prefixes of each other and the curves comparable.
void check_shared_data(const std::vector<PlannedPoint>& points, const std::string& source) {
  for (const auto& p : points) {
    const auto& a = points.front().config.data;
    const auto& b = p.config.data;
    if (b.order_seed != a.order_seed)
      throw ConfigError(source + ": data.order_seed: points " + points.front().name + " (" +
                        std::to_string(a.order_seed) + ") and " + p.name + " (" +
                        std::to_string(b.order_seed) +
                        ") differ; nested unique budgets need one document order");
    if (b.path != a.path)
      throw ConfigError(source + ": data.path: points " + points.front().name + " (" + a.path +
                        ") and " + p.name + " (" + b.path + ") read different token stores");
  }
}

}  // namespace

bool is_runtime_key(const std::string& key) {
  return key == "hardware.threads" || key == "hardware.peak_tflops" || key == "logging.level" ||
         key == "logging.log_every";
}

SweepPlan plan_sweep(const SweepFile& sweep, const std::string& workdir,
                     std::optional<int64_t> assumed_vocab) {
  SweepPlan plan;
  plan.sweep = sweep;
  plan.workdir = fs::absolute(workdir.empty() ? fs::current_path() : fs::path(workdir))
                     .lexically_normal()
                     .string();
  std::ifstream in(sweep.base);
  if (!in)
    throw ConfigError(sweep.base_where + ": base: cannot open run config " + sweep.base +
                      " (paths are relative to the sweep file)");
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string base_text = buf.str();

  // Odometer over the axes: the last axis varies fastest, so an objective axis written first
  // keeps each AR point's MDM partner at the same offset in the second half.
  std::vector<size_t> pick(sweep.axes.size(), 0);
  std::optional<DataFacts> facts;
  // The next grid point; false after the last.
  auto advance = [&] {
    for (size_t a = sweep.axes.size(); a-- > 0;) {
      if (++pick[a] < sweep.axes[a].values.size()) return true;
      pick[a] = 0;
    }
    return false;
  };
  for (bool more = true; more;) {
    PlannedPoint p;
    p.settings = sweep.set;
    for (size_t a = 0; a < sweep.axes.size(); ++a) {
      const auto& value = sweep.axes[a].values[pick[a]];
      p.labels.emplace_back(sweep.axes[a].name, value.label);
      p.settings.insert(p.settings.end(), value.settings.begin(), value.settings.end());
    }
    if (!keeps_point(sweep, p.labels)) {
      more = advance();
      continue;
    }
    std::string total_where = sweep.total_where;
    p.total_tokens = sweep.total_tokens;
    for (const auto& s : p.settings)
      if (s.key == "data.total_tokens") {
        p.total_tokens = TokenCount::parse(s.value)->value();  // checked by parse_sweep
        total_where = s.where;
      }
    if (sweep.total_tokens > 0)
      p.settings.push_back(
          {"data.total_tokens", std::to_string(sweep.total_tokens), sweep.total_where});
    if (p.total_tokens <= 0)
      throw ConfigError(sweep.path + ": point " + join_labels(p.labels, {}) +
                        " gets no data.total_tokens: every value of the axis that sets it must");
    p.name = join_labels(p.labels, {});
    // A group is one comparison: AR and MDM points that differ only in the objective, the
    // seeds of each averaged.
    p.group = join_labels(p.labels, {"objective.type", "training.seed"});
    // A family shares everything but the data budgets (and seeds): R* is fitted across them.
    p.family = join_labels(
        p.labels, {"objective.type", "data.unique_tokens", "data.total_tokens", "training.seed"});
    // MDM's option scores are Monte-Carlo estimates: too few samples per option rank options
    // by noise. A sweep scores them with at least kSweepTaskSamples unless it sets its own.
    bool sets_task_samples = false;
    for (const auto& s : p.settings)
      sets_task_samples = sets_task_samples || s.key == "eval.task_samples";
    if (!sets_task_samples) {
      const RunConfig base = resolve_config(base_text, sweep.base, p.settings, p.name);
      if (base.eval.task_samples < kSweepTaskSamples)
        p.settings.push_back({"eval.task_samples", std::to_string(kSweepTaskSamples),
                              sweep.path + " (the sweep's minimum)"});
    }
    p.config = resolve_config(base_text, sweep.base, p.settings, p.name);

    const auto& c = p.config;
    if (!facts) {
      const fs::path data(c.data.path);
      facts = read_data_facts((data.is_absolute() ? data : fs::path(plan.workdir) / data).string());
      if (!facts->vocab && assumed_vocab) {
        facts->vocab = *assumed_vocab;
        facts->note = "the vocabulary is taken as " + std::to_string(*assumed_vocab) +
                      " (--vocab) for FLOPs and memory: " + c.data.path +
                      " has no usable meta.json yet";
      }
      plan.vocab_size = facts->vocab;
      plan.data_tokens = facts->stream_tokens;
      plan.data_note = facts->note;
    }
    p.unique_tokens = c.data.unique_tokens.is_all() ? facts->stream_tokens.value_or(-1)
                                                    : c.data.unique_tokens.value();
    p.tokens_per_step = c.training.global_batch * c.data.seq_len;
    p.steps = p.total_tokens / p.tokens_per_step;
    if (p.steps < 1)
      throw ConfigError(total_where + ": total_tokens: " + std::to_string(p.total_tokens) +
                        " is less than one step of point " + p.name + " (" +
                        std::to_string(p.tokens_per_step) + " tokens)");
    if (facts->stream_tokens && p.unique_tokens > *facts->stream_tokens) {
      // The sampler would quietly take the whole split: the point would not be what it says.
      std::string where = sweep.base;
      for (const auto& s : p.settings)
        if (s.key == "data.unique_tokens") where = s.where;
      throw ConfigError(where + ": data.unique_tokens: point " + p.name + " asks for " +
                        std::to_string(p.unique_tokens) + " unique tokens but " + c.data.path +
                        " holds " + std::to_string(*facts->stream_tokens) +
                        " (meta.json); use `all` or a smaller budget");
    }
    if (p.unique_tokens > 0)
      p.epochs = static_cast<double>(p.total_tokens) / static_cast<double>(p.unique_tokens);
    if (facts->vocab) {
      p.params = count_parameters(c.model, *facts->vocab).total;
      p.flops = training_flops_per_token(c.model, *facts->vocab, c.data.seq_len) *
                static_cast<double>(p.steps * p.tokens_per_step);
    }
    if (sweep.eval.given()) {
      const int64_t every = eval_every_steps(sweep.eval, p);
      const SweepSetting setting{"eval.every", std::to_string(every), sweep.eval.where};
      apply_override(p.config, setting.assignment());
      p.settings.push_back(setting);
    }
    plan.points.push_back(std::move(p));
    more = advance();
  }
  if (plan.points.empty())
    throw ConfigError(sweep.path + ": only: no point of the grid matches any entry");

  std::set<std::string> names;
  for (const auto& p : plan.points)
    if (!names.insert(p.name).second)
      throw ConfigError(sweep.path + ": axes: two points are both named " + p.name +
                        "; give the axis values distinct labels");
  check_shared_data(plan.points, sweep.path);
  return plan;
}

PlanWriteResult write_plan(const SweepPlan& plan, const std::string& out_dir) {
  const fs::path dir(out_dir);
  const fs::path manifest_path = dir / "manifest.json";
  std::set<std::string> planned;
  for (const auto& p : plan.points) planned.insert(p.name);

  // Check everything before writing anything, so a refused re-plan leaves DIR untouched.
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw std::runtime_error(out_dir + ": exists and is not a directory");
  if (fs::exists(manifest_path)) {
    for (const auto& old : read_manifest(out_dir).points)
      if (!planned.count(old.name))
        throw std::runtime_error(
            out_dir + ": point " + old.name +
            " is in this sweep directory but not in the new plan; runs are never removed by a "
            "re-plan, plan into a new directory instead");
  } else if (fs::exists(dir) && !fs::is_empty(dir) && !fs::exists(dir / "runs")) {
    throw std::runtime_error(out_dir + ": exists, is not empty and is not a sweep directory");
  }
  PlanWriteResult result;
  for (const auto& p : plan.points) {
    const fs::path existing = dir / "runs" / p.name / "config.yaml";
    if (!fs::exists(existing)) {
      result.created.push_back(p.name);
      continue;
    }
    const RunConfig before = load_config(existing.string());
    std::vector<std::string> changed;
    for (const auto& key : config_differences(before, p.config))
      if (!is_runtime_key(key)) changed.push_back(key);
    if (!changed.empty()) {
      std::string keys;
      for (const auto& k : changed) keys += (keys.empty() ? "" : ", ") + k;
      throw std::runtime_error(existing.string() + ": point " + p.name +
                               " already exists with a different config (" + keys +
                               "); a re-plan only adds points, plan into a new directory");
    }
    result.kept.push_back(p.name);
  }

  for (const auto& p : plan.points) {
    if (std::find(result.created.begin(), result.created.end(), p.name) == result.created.end())
      continue;
    const fs::path run_dir = dir / "runs" / p.name;
    fs::create_directories(run_dir);
    atomic_write_file((run_dir / "config.yaml").string(), "# Point " + p.name + " of sweep " +
                                                              plan.sweep.path + "\n" +
                                                              dump_config(p.config));
  }
  atomic_write_file((dir / "sweep.yaml").string(), plan.sweep.text);
  // Last: a manifest exists only once every run directory it names does.
  atomic_write_file(manifest_path.string(), manifest_json(plan).dump(2) + "\n");
  return result;
}

}  // namespace crossover
