// `crossover eval` and periodic task evaluation as a user runs them: tiny AR and MDM runs with a
// make-cloze task in eval.tasks, then the eval command on their checkpoints.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "crossover/util/metrics.h"
#include "fixtures.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class EvalCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = testing::make_data(*dir_);
    task_ = *dir_ / "cloze.jsonl";
    const auto r = testing::run_crossover("make-cloze --data " + data_ + " --out " + task_ +
                                          " --n 16 --ctx-tokens 8 --ending-tokens 4 --seed 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }

  // Trains a tiny run that scores the cloze task at every evaluation; returns its directory.
  static std::string train(const std::string& objective, const std::string& name = "") {
    RunConfig c = testing::tiny_config(data_, objective);
    c.eval.tasks = {task_};
    c.eval.task_samples = 4;
    const std::string tag = name.empty() ? objective : name;
    const std::string cfg = *dir_ / (tag + ".yaml"), run = *dir_ / ("run-" + tag);
    testing::write_file(cfg, dump_config(c));
    const auto r = testing::run_crossover("train " + cfg + " --run-dir " + run);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("eval step 40: cloze: acc "), std::string::npos) << r.output;
    return run;
  }

  static TempDir* dir_;
  static std::string data_, task_;
};
TempDir* EvalCommand::dir_ = nullptr;
std::string EvalCommand::data_, EvalCommand::task_;

const char* kTaskFields[] = {"acc", "acc_norm", "nll_right", "nll_wrong", "delta_nll", "examples"};

TEST_F(EvalCommand, TrainingLogsTasksAndEvalReproducesThemAndPrintsEveryMetric) {
  for (const std::string objective : {"ar", "mdm"}) {
    const std::string run = train(objective);
    // Periodic evaluation: every eval event carries the task's metrics.
    std::vector<nlohmann::json> evals;
    for (const auto& e : read_metrics(run + "/metrics.jsonl"))
      if (e["kind"] == "eval") evals.push_back(e);
    ASSERT_EQ(evals.size(), 2u);  // steps 20 and 40
    for (const auto& e : evals) {
      ASSERT_TRUE(e["tasks"].contains("cloze")) << e.dump();
      for (const char* key : kTaskFields) EXPECT_TRUE(e["tasks"]["cloze"].contains(key)) << key;
      EXPECT_EQ(e["tasks"]["cloze"]["examples"], 16);
      EXPECT_NEAR(e["tasks"]["cloze"]["delta_nll"].get<double>(),
                  e["tasks"]["cloze"]["nll_wrong"].get<double>() -
                      e["tasks"]["cloze"]["nll_right"].get<double>(),
                  1e-9);
    }

    // The eval command on the latest checkpoint (tasks from the run's config).
    const auto r = testing::run_crossover("eval " + run);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char* word : {"val loss", "task", "examples", "acc", "acc_norm", "nll_right",
                             "nll_wrong", "delta_nll", "cloze"})
      EXPECT_NE(r.output.find(word), std::string::npos) << word << " in\n" << r.output;
    const std::string file = run + "/eval/step_00000040.json";
    EXPECT_NE(r.output.find("wrote " + file), std::string::npos) << r.output;
    ASSERT_TRUE(fs::exists(file));
    const auto j = nlohmann::json::parse(testing::read_file(file));
    EXPECT_EQ(j["step"], 40);
    EXPECT_EQ(j["objective"], objective);
    for (const char* key :
         {"tokens", "unique_tokens", "epoch", "flops", "val_loss", "val_loss_se", "val_ppl"})
      EXPECT_TRUE(j.contains(key)) << key;
    if (objective == "mdm") {
      EXPECT_GT(j["val_loss_se"].get<double>(), 0.0);
      EXPECT_NE(r.output.find("±"), std::string::npos);
    } else {
      EXPECT_EQ(j["val_loss_se"].get<double>(), 0.0);
      EXPECT_NE(r.output.find("ppl"), std::string::npos);
    }
    // Same checkpoint, data, samples and seeds: the numbers the trainer logged at step 40.
    EXPECT_NEAR(j["val_loss"].get<double>(), evals.back()["val_loss"].get<double>(), 1e-6);
    for (const char* key : kTaskFields)
      EXPECT_NEAR(j["tasks"]["cloze"][key].get<double>(),
                  evals.back()["tasks"]["cloze"][key].get<double>(), 1e-6)
          << objective << " " << key;

    // An earlier checkpoint, explicit tasks, capped examples, more samples.
    const auto early =
        testing::run_crossover("eval " + run + " --step 20 --tasks " + task_ +
                               " --max-examples 5 --task-samples 8 --mc-samples 2 --device cpu");
    ASSERT_EQ(early.exit_code, 0) << early.output;
    const auto k = nlohmann::json::parse(testing::read_file(run + "/eval/step_00000020.json"));
    EXPECT_EQ(k["step"], 20);
    EXPECT_EQ(k["tasks"]["cloze"]["examples"], 5);
    EXPECT_EQ(k["mc_samples"], objective == "mdm" ? 2 : 1);

    // A malformed task file stops the command with its file and line.
    const std::string bad = *dir_ / "bad.jsonl";
    testing::write_file(
        bad, "{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": 0}\n{\"ctx\": 1}\n");
    const auto rejected = testing::run_crossover("eval " + run + " --tasks " + bad);
    EXPECT_EQ(rejected.exit_code, 1);
    EXPECT_NE(rejected.output.find(bad + ":2: ctx: expected a string, got 1"), std::string::npos)
        << rejected.output;
  }
}

std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(testing::read_file(path));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Training writes every window's loss and every example's prediction per evaluation, and
// `eval --dump` writes them one a line, on windows that are the same for both objectives.
TEST_F(EvalCommand, DetailAndDumpPairWindowsAndExamplesAcrossObjectives) {
  std::map<std::string, std::vector<nlohmann::json>> dumps;
  for (const std::string objective : {"ar", "mdm"}) {
    const std::string run = train(objective, objective + "-detail");
    std::vector<nlohmann::json> evals;
    for (const auto& e : read_metrics(run + "/metrics.jsonl"))
      if (e["kind"] == "eval") evals.push_back(e);
    const auto detail = json_lines(run + "/eval_detail.jsonl");
    ASSERT_EQ(detail.size(), 2u);  // steps 20 and 40
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(detail[i]["step"], evals[i]["step"]);
      const auto losses = detail[i]["val_window_loss"].get<std::vector<double>>();
      ASSERT_EQ(losses.size(), 8u);  // eval.val_sequences
      ASSERT_EQ(detail[i]["val_windows"].size(), 8u);
      double mean = 0;
      for (double v : losses) mean += v / 8;
      EXPECT_NEAR(mean, evals[i]["val_loss"].get<double>(), 1e-9);
      EXPECT_GT(evals[i]["val_loss_window_se"].get<double>(), 0.0);
      EXPECT_EQ(detail[i].contains("val_window_se"), objective == "mdm");
      const auto& cloze = detail[i]["tasks"]["cloze"];
      ASSERT_EQ(cloze["predicted"].size(), 16u);
      ASSERT_EQ(cloze["label"].size(), 16u);
      int right = 0;
      for (size_t k = 0; k < 16; ++k) right += cloze["predicted"][k] == cloze["label"][k];
      EXPECT_NEAR(right / 16.0, evals[i]["tasks"]["cloze"]["acc"].get<double>(), 1e-12);
    }

    // Every window of the split, dumped one a line.
    const std::string dump = *dir_ / (objective + "-dump.jsonl");
    const auto r = testing::run_crossover("eval " + run + " --val-sequences 0 --dump " + dump);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("wrote " + dump), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("window-sampling se"), std::string::npos) << r.output;
    const auto report = nlohmann::json::parse(testing::read_file(run + "/eval/step_00000040.json"));
    dumps[objective] = json_lines(dump);
    int64_t windows = 0, examples = 0;
    double mean = 0;
    for (const auto& l : dumps[objective]) {
      if (l["kind"] == "val_window") {
        EXPECT_EQ(l["window"], windows);      // all of them, in order
        EXPECT_EQ(l["start"], windows * 31);  // seq_len 32: windows share one token
        mean += l["loss"].get<double>();
        ++windows;
      } else {
        EXPECT_EQ(l["kind"], "task_example");
        EXPECT_EQ(l["correct"], l["predicted"] == l["label"]);
        ++examples;
      }
    }
    EXPECT_EQ(windows, report["val_sequences"].get<int64_t>());
    EXPECT_EQ(windows, report["val_windows_available"].get<int64_t>());
    EXPECT_GT(windows, 8);
    EXPECT_EQ(examples, 16);
    EXPECT_NEAR(mean / windows, report["val_loss"].get<double>(), 1e-9);

    // Fewer windows than the split holds: a sample spread over it.
    const auto few = testing::run_crossover("eval " + run + " --val-sequences 3 --dump " + dump);
    ASSERT_EQ(few.exit_code, 0) << few.output;
    std::vector<int64_t> picked;
    for (const auto& l : json_lines(dump))
      if (l["kind"] == "val_window") picked.push_back(l["window"].get<int64_t>());
    ASSERT_EQ(picked.size(), 3u);
    EXPECT_GT(picked.back(), windows / 2);
  }
  // Both objectives scored the same windows.
  for (size_t i = 0; i < dumps["ar"].size(); ++i)
    if (dumps["ar"][i]["kind"] == "val_window") {
      EXPECT_EQ(dumps["ar"][i]["window"], dumps["mdm"][i]["window"]);
      EXPECT_EQ(dumps["ar"][i]["start"], dumps["mdm"][i]["start"]);
    }
}

// eval.task_every: the tasks (costly for MDM) at some evaluations and at the last only.
TEST_F(EvalCommand, TaskEveryScoresTasksAtItsMultiplesAndAtTheEnd) {
  RunConfig c = testing::tiny_config(data_, "mdm");
  c.eval.tasks = {task_};
  c.eval.task_samples = 2;
  c.eval.every = 10;
  c.eval.task_every = 30;
  const std::string cfg = *dir_ / "task-every.yaml", run = *dir_ / "run-task-every";
  testing::write_file(cfg, dump_config(c));
  const auto r = testing::run_crossover("train " + cfg + " --run-dir " + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<int64_t> all, with_tasks;
  for (const auto& e : read_metrics(run + "/metrics.jsonl"))
    if (e["kind"] == "eval") {
      all.push_back(e["step"].get<int64_t>());
      if (e["tasks"].contains("cloze")) with_tasks.push_back(e["step"].get<int64_t>());
    }
  EXPECT_EQ(all, (std::vector<int64_t>{10, 20, 30, 40}));
  EXPECT_EQ(with_tasks, (std::vector<int64_t>{30, 40}));
  const auto detail = json_lines(run + "/eval_detail.jsonl");
  ASSERT_EQ(detail.size(), 4u);
  EXPECT_TRUE(detail[0]["tasks"].empty());
  EXPECT_EQ(detail[3]["tasks"]["cloze"]["predicted"].size(), 16u);
}

TEST_F(EvalCommand, ErrorsAreClear) {
  EXPECT_EQ(testing::run_crossover("eval " + *dir_ / "no-such-run").exit_code, 2);
  const std::string run = *dir_ / "run-empty";
  fs::create_directories(run);
  const auto none = testing::run_crossover("eval " + run);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.output.find(run), std::string::npos) << none.output;
}

}  // namespace
}  // namespace crossover
