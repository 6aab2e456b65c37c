// TensorBoard event files of real runs, read back by the tensorboard package's own reader
// (tests/python/read_tensorboard.py, EventAccumulator) and held to metrics.jsonl: every scalar
// of every train and eval event at its step, once, also across a kill and resume.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>

#include "crossover/util/metrics.h"
#include "fixtures.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// The axes every event carries: TensorBoard's x axis is the step, so they are not scalars.
const std::set<std::string> kAxes = {"kind", "step", "tokens", "unique_tokens", "epoch", "flops"};

// tag -> step -> value, as metrics.jsonl says TensorBoard should show them.
using Curves = std::map<std::string, std::map<int64_t, double>>;

void flatten(const std::string& tag, const nlohmann::json& j, int64_t step, Curves* out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten(tag + "/" + k, v, step, out);
  } else if (j.is_number()) {
    ASSERT_EQ(out->count(tag) ? (*out)[tag].count(step) : 0u, 0u) << tag << " twice at " << step;
    (*out)[tag][step] = j.get<double>();
  }
}

Curves expected_curves(const std::string& run) {
  Curves out;
  for (const auto& e : read_metrics(run + "/metrics.jsonl")) {
    const std::string kind = e["kind"];
    if (kind != "train" && kind != "eval") continue;
    for (const auto& [k, v] : e.items())
      if (!kAxes.count(k)) flatten(kind + "/" + k, v, e["step"].get<int64_t>(), &out);
  }
  return out;
}

// Runs read_tensorboard.py on `logdir`; returns its {"runs": {...}} (null when it failed).
nlohmann::json read_with_tensorboard(const std::string& logdir, const std::string& out) {
  const std::string python = testing::venv_python();
  if (python.empty()) return nullptr;
  const auto r = testing::run_command(python + " " +
                                      testing::source_path("tests/python/read_tensorboard.py") +
                                      " " + logdir + " " + out);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  if (r.exit_code != 0) return nullptr;
  return nlohmann::json::parse(testing::read_file(out))["runs"];
}

// Every scalar TensorBoard shows is the metrics.jsonl value at the same step (float32), once
// per step, and every metrics.jsonl value is shown.
void expect_same_curves(const nlohmann::json& tb_run, const Curves& expected) {
  std::set<std::string> tb_tags, want_tags;
  for (const auto& [tag, points] : tb_run["scalars"].items()) tb_tags.insert(tag);
  for (const auto& [tag, steps] : expected) want_tags.insert(tag);
  EXPECT_EQ(tb_tags, want_tags);
  for (const auto& [tag, steps] : expected) {
    if (!tb_run["scalars"].contains(tag)) continue;
    std::map<int64_t, double> seen;
    for (const auto& p : tb_run["scalars"][tag]) {
      const int64_t step = p[0].get<int64_t>();
      EXPECT_EQ(seen.count(step), 0u) << tag << " shown twice at step " << step;
      seen[step] = p[1].get<double>();
    }
    ASSERT_EQ(seen.size(), steps.size()) << tag;
    for (const auto& [step, value] : steps) {
      ASSERT_TRUE(seen.count(step)) << tag << " missing at step " << step;
      EXPECT_FLOAT_EQ(static_cast<float>(seen[step]), static_cast<float>(value))
          << tag << " at step " << step;
    }
  }
}

class TensorBoardEvents : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = testing::make_data(*dir_);
    task_ = *dir_ / "cloze.jsonl";
    const auto r = testing::run_crossover("make-cloze --data " + data_ + " --out " + task_ +
                                          " --n 8 --ctx-tokens 8 --ending-tokens 4 --seed 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }

  std::string config(const std::vector<std::string>& sets = {}) {
    RunConfig c = testing::tiny_config(data_, "ar");
    c.eval.tasks = {task_};
    for (const auto& s : sets) apply_override(c, s);
    const std::string path = tmp_ / ("run-" + std::to_string(counter_++) + ".yaml");
    testing::write_file(path, dump_config(c));
    return path;
  }
  testing::CommandResult train(const std::string& cfg, const std::string& run,
                               const std::string& env = "") {
    return testing::run_command(env + " " + CROSSOVER_BINARY + " train " + cfg + " --run-dir " +
                                run);
  }

  static TempDir* dir_;
  static std::string data_, task_;
  TempDir tmp_;
  int counter_ = 0;
};
TempDir* TensorBoardEvents::dir_ = nullptr;
std::string TensorBoardEvents::data_, TensorBoardEvents::task_;

TEST_F(TensorBoardEvents, EveryTrainAndEvalScalarAtItsStep) {
  const std::string run = tmp_ / "run";
  const auto r = train(config(), run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(run + "/tensorboard"))
    files.push_back(e.path().filename().string());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(std::regex_match(files[0], std::regex(R"(events\.out\.tfevents\.\d{10}\.[^/]+)")))
      << files[0];

  const Curves expected = expected_curves(run);
  // What the file must hold, named, so that a field dropped from both sides still fails here.
  for (const char* tag :
       {"train/loss", "train/lr", "train/grad_norm", "train/tok_per_s", "train/tflops", "train/mfu",
        "eval/val_loss", "eval/val_loss_se", "eval/val_ppl", "eval/tasks/cloze/acc",
        "eval/tasks/cloze/acc_norm", "eval/tasks/cloze/delta_nll", "eval/tasks/cloze/nll_right"})
    EXPECT_TRUE(expected.count(tag)) << tag;
  EXPECT_EQ(expected.at("train/loss").size(), 40u);
  EXPECT_EQ(expected.at("eval/val_loss").size(), 2u);  // steps 20 and 40

  const auto runs = read_with_tensorboard(run + "/tensorboard", tmp_ / "tb.json");
  ASSERT_FALSE(runs.is_null());
  ASSERT_EQ(runs.size(), 1u);
  ASSERT_TRUE(runs.contains(".")) << runs.dump();
  EXPECT_EQ(runs["."]["file_version"], 2.0);
  expect_same_curves(runs["."], expected);
}

TEST_F(TensorBoardEvents, KilledAndResumedRunShowsEveryStepOnce) {
  const std::string cfg = config(), run = tmp_ / "killed";
  // SIGKILL right after step 25: the last checkpoint is step 20, so 21-25 run twice.
  ASSERT_NE(train(cfg, run, "CROSSOVER_FAULT=step@25").exit_code, 0);
  const auto resumed = train(cfg, run);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(std::distance(fs::directory_iterator(run + "/tensorboard"), fs::directory_iterator()),
            2);

  const auto runs = read_with_tensorboard(run + "/tensorboard", tmp_ / "tb.json");
  ASSERT_FALSE(runs.is_null());
  const Curves expected = expected_curves(run);
  EXPECT_EQ(expected.at("train/loss").size(), 40u);
  expect_same_curves(runs["."], expected);  // the resumed values, steps 21-25 once
}

TEST_F(TensorBoardEvents, OffWritesNoEventFile) {
  const std::string run = tmp_ / "off";
  ASSERT_EQ(train(config({"logging.tensorboard=false", "data.total_tokens=2560"}), run).exit_code,
            0);
  EXPECT_TRUE(fs::exists(run + "/metrics.jsonl"));
  EXPECT_FALSE(fs::exists(run + "/tensorboard"));
}

}  // namespace
}  // namespace crossover
