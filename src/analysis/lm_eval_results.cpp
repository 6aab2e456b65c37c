// Reads lm-eval 0.4's aggregated results files (lm_eval/loggers/evaluation_tracker.py,
// save_results_aggregated): one JSON object with "results" {task: {"acc,none": p,
// "acc_stderr,none": se, "acc_norm,none": ..., "sample_len": n, "alias": ...}}, "n-samples"
// {task: {"original": N, "effective": n}} and, for groups, "group_subtasks" {group: [tasks]}.
// Only the "none" filter's acc and acc_norm are read: the multiple-choice metrics the report
// compares. lm-eval's stderr (sqrt(p (1 - p) / (n - 1))) is not read; the report computes the
// binomial one from the count, as for crossover's own tasks.
#include "crossover/analysis/lm_eval_results.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace crossover {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// lm-eval's results file embeds every task's config; MMLU's is a few MB. Far beyond any.
constexpr std::uintmax_t kMaxResultsBytes = std::uintmax_t{256} << 20;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(fmt::format("lm-eval results {}: {}", path, what));
}

json parse_file(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read it (" + ec.message() + ")");
  if (size > kMaxResultsBytes)
    fail(path, fmt::format("{} bytes, more than any results file ({} MiB)", size,
                           kMaxResultsBytes >> 20));
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) fail(path, "cannot read it");
  try {
    return json::parse(text.str());
  } catch (const json::parse_error& e) {
    fail(path, fmt::format("not JSON ({}); lm-eval writes it whole at the end of a run, so a "
                           "truncated one is from a run that did not finish: run it again",
                           e.what()));
  }
}

// results.TASK."acc,none": an accuracy in [0, 1], NaN when absent.
double accuracy(const std::string& path, const std::string& task, const json& scores,
                const char* key) {
  const auto it = scores.find(key);
  if (it == scores.end()) return kNaN;
  const std::string where = fmt::format("results.\"{}\".\"{}\"", task, key);
  if (!it->is_number())
    fail(path,
         fmt::format("{} is {}, expected an accuracy (a number in [0, 1])", where, it->dump()));
  const double v = it->get<double>();
  if (!(v >= 0 && v <= 1))
    fail(path, fmt::format("{} is {}, expected an accuracy in [0, 1]", where, v));
  return v;
}

// n-samples.TASK.effective (the examples scored, after --limit), else results.TASK.sample_len,
// else for a group the sum over group_subtasks; NaN when none says.
double examples(const std::string& path, const json& doc, const std::string& task, int depth = 0) {
  if (depth > 16) return kNaN;  // group_subtasks that loop: no count
  if (const auto ns = doc.find("n-samples"); ns != doc.end() && ns->is_object())
    if (const auto t = ns->find(task); t != ns->end()) {
      const auto eff = t->is_object() ? t->find("effective") : t->end();
      if (eff == t->end() || !eff->is_number_integer() || eff->get<int64_t>() <= 0)
        fail(path, fmt::format("n-samples.\"{}\" is {}, expected {{\"effective\": a positive "
                               "count of examples, ...}}",
                               task, t->dump()));
      return static_cast<double>(eff->get<int64_t>());
    }
  const json& results = doc.at("results");
  if (const auto r = results.find(task); r != results.end())
    if (const auto n = r->find("sample_len"); n != r->end() && n->is_number() && *n > 0)
      return n->get<double>();
  if (const auto g = doc.find("group_subtasks"); g != doc.end() && g->is_object())
    if (const auto subs = g->find(task); subs != g->end() && subs->is_array() && !subs->empty()) {
      double sum = 0;
      for (const auto& s : *subs) sum += s.is_string() ? examples(path, doc, s, depth + 1) : kNaN;
      return sum;
    }
  return kNaN;
}

// The step of a folder named step_N; -1 otherwise.
int64_t step_of(const std::string& name) {
  if (name.size() <= 5 || name.compare(0, 5, "step_") != 0) return -1;
  if (!std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      name.size() > 5 + 18)
    return -1;
  return std::stoll(name.substr(5));
}

}  // namespace

std::map<std::string, TaskScores> read_lm_eval_file(const std::string& path) {
  const json doc = parse_file(path);
  if (!doc.is_object()) fail(path, "not a JSON object (lm-eval's results file is one)");
  const auto results = doc.find("results");
  if (results == doc.end() || !results->is_object())
    fail(path, "no \"results\" object, expected lm-eval's {\"results\": {task: {\"acc,none\": "
               "...}}} (a results_*.json of --output_path, not a samples_*.jsonl)");
  std::map<std::string, TaskScores> out;
  for (const auto& [task, scores] : results->items()) {
    if (!scores.is_object())
      fail(path,
           fmt::format("results.\"{}\" is {}, expected an object of metrics", task, scores.dump()));
    const double acc = accuracy(path, task, scores, "acc,none");
    const double acc_norm = accuracy(path, task, scores, "acc_norm,none");
    if (std::isnan(acc) && std::isnan(acc_norm)) continue;
    const double n = examples(path, doc, task);
    const std::string name = "lm_eval/" + task;
    if (!std::isnan(acc)) out[name] = {acc, acc_norm, kNaN, kNaN, kNaN, n};
    if (!std::isnan(acc_norm)) out[name + "/acc_norm"] = {acc_norm, kNaN, kNaN, kNaN, kNaN, n};
  }
  return out;
}

std::map<int64_t, std::map<std::string, TaskScores>> read_lm_eval_results(
    const std::string& run_dir) {
  std::map<int64_t, std::map<std::string, TaskScores>> out;
  const fs::path root = fs::path(run_dir) / "lm_eval";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const int64_t step = step_of(entry.path().filename().string());
    if (step < 0) {
      spdlog::warn("{}: not a step_N folder (N the checkpoint's step); its results are not read",
                   entry.path().string());
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& f : fs::recursive_directory_iterator(entry.path())) {
      const std::string name = f.path().filename().string();
      if (f.is_regular_file() && name.rfind("results_", 0) == 0 && f.path().extension() == ".json")
        files.push_back(f.path());
    }
    // lm-eval's file names carry an ISO date: their order is the order the runs ended.
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
      return a.filename() != b.filename() ? a.filename() < b.filename() : a < b;
    });
    if (files.empty()) continue;
    auto& tasks = out[step];
    for (const auto& f : files)
      for (auto& [name, scores] : read_lm_eval_file(f.string())) tasks[name] = scores;
  }
  return out;
}

}  // namespace crossover
