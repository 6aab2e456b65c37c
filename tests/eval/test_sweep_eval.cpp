// `python -m crossover_lm.sweep_eval` over a planned sweep: it runs the real lm-eval 0.4.13 on each
// checkpoint not yet scored, into RUN_DIR/lm_eval/step_N, and the sweep report's reader takes
// the files lm-eval wrote. lm-eval's own `dummy` model (seeded random log-likelihoods) stands in
// for a trained checkpoint (test_lm_eval.cpp scores real ones), so only the file layout and the
// plumbing are under test here.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "crossover/analysis/lm_eval_results.h"
#include "crossover/analysis/results.h"
#include "sweep/sweep_fixture.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;

TEST(SweepEval, ScoresEachNewCheckpointWhereTheReportReadsIt) {
  CROSSOVER_ONCE_PER_CI();
  testing::SweepFixture f;
  const Manifest m =
      f.plan_dir("base: base.yaml\ntotal_tokens: 1M\naxes: {objective.type: [ar, mdm]}\n");
  const std::string ar = m.points[0].run_dir, mdm = m.points[1].run_dir;
  ASSERT_EQ(m.points[0].objective, "ar");
  for (const auto& run : {ar, mdm})
    testing::append_event(run, {{"kind", "eval"},
                                {"step", 10},
                                {"tokens", 5120},
                                {"epoch", 0.1},
                                {"flops", 1e9},
                                {"val_loss", 3.0}});
  // AR: one checkpoint to score, one being written (a name with '.'), and none for MDM but an
  // earlier lm-eval result, which is kept.
  fs::create_directories(ar + "/checkpoints/step_00000010");
  fs::create_directories(ar + "/checkpoints/step_00000020.tmp");
  fs::create_directories(mdm + "/checkpoints/step_00000010");
  fs::create_directories(mdm + "/lm_eval/step_10/m");
  testing::write_file(mdm + "/lm_eval/step_10/m/results_2026-01-01T00-00-00.json",
                      R"({"results": {"kjv_cloze": {"acc,none": 0.75, "acc_norm,none": 0.5}},
                          "n-samples": {"kjv_cloze": {"original": 100, "effective": 4}}})");

  const std::string cmd = "PYTHONPATH=" + testing::source_path("python") +
                          " HF_DATASETS_OFFLINE=1 " + "HF_HUB_OFFLINE=1 " + testing::venv_python() +
                          " -m crossover_lm.sweep_eval " + (f.dir / "out") + " --tasks kjv_cloze";
  const std::string lm_eval_args = " -- --model dummy --limit 8";
  const auto dry = testing::run_command(cmd + " --dry-run" + lm_eval_args);
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("--model_args run=" + ar + ",step=10 --tasks kjv_cloze --output_path " +
                            ar + "/lm_eval/step_10 --model dummy --limit 8"),
            std::string::npos)
      << dry.output;
  EXPECT_EQ(dry.output.find("step=20"), std::string::npos) << dry.output;
  EXPECT_EQ(dry.output.find(mdm), std::string::npos) << dry.output;

  const auto r = testing::run_command(cmd + lm_eval_args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto steps = read_lm_eval_results(ar);
  ASSERT_EQ(steps.size(), 1u) << r.output;
  const TaskScores& s = steps.at(10).at("lm_eval/kjv_cloze");
  EXPECT_EQ(s.examples, 8);
  for (double v : {s.acc, s.acc_norm, steps.at(10).at("lm_eval/kjv_cloze/acc_norm").acc}) {
    EXPECT_GE(v, 0);
    EXPECT_LE(v, 1);
    EXPECT_DOUBLE_EQ(v * 8, std::round(v * 8));  // a count of the 8 examples
  }
  const auto results = load_results(m);
  EXPECT_DOUBLE_EQ(results[0].evals.at(0).tasks.at("lm_eval/kjv_cloze").acc, s.acc);
  EXPECT_DOUBLE_EQ(results[1].evals.at(0).tasks.at("lm_eval/kjv_cloze").acc, 0.75);

  // Nothing left: a second pass runs no lm-eval.
  const auto again = testing::run_command(cmd + lm_eval_args);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("no checkpoint left to score"), std::string::npos) << again.output;
}

}  // namespace
}  // namespace crossover
