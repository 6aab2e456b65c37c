// lm-eval's results files per checkpoint (RUN_DIR/lm_eval/step_N/<model>/results_<date>.json,
// as lm-eval 0.4.13's --output_path writes them) in the sweep report: their accuracies become
// tasks lm_eval/<task> whose crossover is called as for crossover's own tasks, and a file that
// is not lm-eval's fails naming the file and the key.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "crossover/analysis/lm_eval_results.h"
#include "crossover/analysis/report.h"
#include "crossover/analysis/results.h"
#include "sweep/sweep_fixture.h"

namespace crossover {
namespace {

using nlohmann::json;
using testing::append_event;
using testing::end_event;

struct Scores {
  std::string task;
  double acc, acc_norm;
  int64_t n;  // effective examples (after --limit)
};

// A results file as lm-eval 0.4.13 writes it (keys and their order from a real
// `lm_eval --output_path` file; configs cut to the fields that matter here).
json lm_eval_json(const std::vector<Scores>& scores) {
  json results = json::object(), n_samples = json::object(), configs = json::object(),
       versions = json::object(), n_shot = json::object(), higher = json::object();
  for (const auto& s : scores) {
    const double n = static_cast<double>(s.n);
    results[s.task] = {
        {"name", s.task},
        {"alias", s.task},
        {"sample_len", s.n},
        {"acc,none", s.acc},
        {"acc_stderr,none", std::sqrt(s.acc * (1 - s.acc) / (n - 1))},
        {"acc_norm,none", s.acc_norm},
        {"acc_norm_stderr,none", std::sqrt(s.acc_norm * (1 - s.acc_norm) / (n - 1))}};
    n_samples[s.task] = {{"original", s.n + 100}, {"effective", s.n}};
    configs[s.task] = {
        {"task", s.task},
        {"output_type", "multiple_choice"},
        {"num_fewshot", 0},
        {"metric_list",
         {{{"metric", "acc"}, {"aggregation", "mean"}, {"higher_is_better", true}},
          {{"metric", "acc_norm"}, {"aggregation", "mean"}, {"higher_is_better", true}}}},
        {"metadata", {{"version", 1.0}}}};
    versions[s.task] = 1.0;
    n_shot[s.task] = 0;
    higher[s.task] = {{"acc", true}, {"acc_norm", true}};
  }
  return {{"results", results},
          {"group_subtasks", json::object()},
          {"configs", configs},
          {"versions", versions},
          {"n-shot", n_shot},
          {"higher_is_better", higher},
          {"n-samples", n_samples},
          {"config",
           {{"model", "crossover"},
            {"model_args", "run=RUN,step=N"},
            {"batch_size", 1},
            {"limit", nullptr},
            {"bootstrap_iters", 100000}}},
          {"git_hash", nullptr},
          {"date", 1796559472.843299},
          {"task_hashes", json::object()},
          {"model_source", "crossover"},
          {"model_name", ""},
          {"model_name_sanitized", ""},
          {"lm_eval_version", "0.4.13"},
          {"total_evaluation_time_seconds", "14.6"}};
}

// Where `--output_path RUN_DIR/lm_eval/step_N` puts it: a folder named by the sanitized model
// name, a file named by the date.
std::string write_lm_eval(const std::string& run_dir, int64_t step, const json& doc,
                          const std::string& date = "2026-12-06T12-17-59.544967",
                          const std::string& model = "runs__ar") {
  const std::string dir = fmt::format("{}/lm_eval/step_{}/{}", run_dir, step, model);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/results_" + date + ".json";
  testing::write_file(path, doc.dump(2));
  return path;
}

json eval_event(int64_t step, double tokens, double loss) {
  return {{"kind", "eval"},         {"step", step},          {"tokens", tokens},
          {"unique_tokens", 1e5},   {"epoch", tokens / 1e5}, {"flops", 6e3 * tokens},
          {"val_loss", loss},       {"val_loss_se", 0.001},  {"val_ppl", std::exp(loss)},
          {"tasks", json::object()}};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<std::string> rows_with(const std::vector<std::string>& lines, const std::string& s) {
  std::vector<std::string> out;
  for (const auto& l : lines)
    if (l.find(s) != std::string::npos) out.push_back(l);
  return out;
}

// Two runs of one budget, evaluated by crossover every 100k tokens (val loss only) and by
// lm-eval at each of those checkpoints plus one between (step 25, a checkpoint without an eval).
// hellaswag: AR 0.4 flat; MDM 0.125 + 0.05 i at i * 100k tokens, over 400 examples. The means
// cross at 550k. Binomial SEs near 0.025 each (2 combined: about 0.07): AR leads by 0.075 at 400k
// beyond the noise, MDM by 0.075 from 700k on. acc_norm: MDM ahead throughout.
TEST(LmEvalResults, SweepReportCallsTheCrossoverOnLmEvalAccuracies) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(
      "base: base.yaml\ntotal_tokens: 1M\nset: {data.unique_tokens: 100k}\n"
      "axes: {objective.type: [ar, mdm]}\n");
  ASSERT_EQ(m.points.size(), 2u);
  const std::string ar = m.points[0].run_dir, mdm = m.points[1].run_dir;
  ASSERT_EQ(m.points[0].objective, "ar");
  for (int i = 1; i <= 10; ++i) {
    const double t = i * 1e5;
    append_event(ar, eval_event(i * 10, t, 3.05));
    append_event(mdm, eval_event(i * 10, t, 3.5 - 0.1 * i));
    write_lm_eval(ar, i * 10, lm_eval_json({{"hellaswag", 0.4, 0.5, 400}}));
    write_lm_eval(mdm, i * 10, lm_eval_json({{"hellaswag", 0.125 + 0.05 * i, 0.6, 400}}));
    if (i == 2) {
      for (const auto& run : {ar, mdm})
        append_event(run, {{"kind", "checkpoint"},
                           {"step", 25},
                           {"tokens", 2.5e5},
                           {"epoch", 2.5},
                           {"flops", 1.5e9},
                           {"path", run + "/checkpoints/step_25"}});
      write_lm_eval(ar, 25, lm_eval_json({{"hellaswag", 0.4, 0.5, 400}}));
      write_lm_eval(mdm, 25, lm_eval_json({{"hellaswag", 0.25, 0.6, 400}}));
    }
  }
  // A checkpoint after the last eval: left out (the report's final eval stays the last eval).
  write_lm_eval(mdm, 110, lm_eval_json({{"hellaswag", 0.9, 0.9, 400}}));
  for (const auto& run : {ar, mdm}) append_event(run, end_event("finished", 100));

  const auto results = load_results(m);
  ASSERT_EQ(results[1].evals.size(), 11u);  // 10 evals + the checkpoint at step 25
  const EvalRecord& at25 = results[1].evals[2];
  EXPECT_EQ(at25.step, 25);
  EXPECT_DOUBLE_EQ(at25.tokens, 2.5e5);
  EXPECT_TRUE(std::isnan(at25.val_loss));
  const TaskScores& last = results[1].evals.back().tasks.at("lm_eval/hellaswag");
  EXPECT_NEAR(last.acc, 0.625, 1e-12);
  EXPECT_DOUBLE_EQ(last.acc_norm, 0.6);
  EXPECT_DOUBLE_EQ(last.examples, 400);
  EXPECT_DOUBLE_EQ(results[1].evals.back().tasks.at("lm_eval/hellaswag/acc_norm").acc, 0.6);

  write_report(f.dir / "out");
  const auto crossings = lines_of(testing::read_file(f.dir / "out/report/crossovers.csv"));
  const auto acc = rows_with(crossings, ",lm_eval/hellaswag,acc,");
  ASSERT_EQ(acc.size(), 3u) << testing::read_file(f.dir / "out/report/crossovers.csv");
  EXPECT_EQ(acc[0], "all,all,100000,lm_eval/hellaswag,acc,mdm_overtakes,550000,5.5");
  EXPECT_EQ(acc[1], "all,all,100000,lm_eval/hellaswag,acc,resolved_from,400000,4");
  EXPECT_EQ(acc[2], "all,all,100000,lm_eval/hellaswag,acc,resolved_to,700000,7");
  // acc_norm: MDM leads at every checkpoint, so nothing crosses.
  EXPECT_TRUE(rows_with(crossings, "lm_eval/hellaswag/acc_norm").empty());
  const std::string md = testing::read_file(f.dir / "out/report/summary.md");
  EXPECT_NE(md.find("lm_eval/hellaswag acc"), std::string::npos) << md;
  EXPECT_NE(md.find("lm_eval/hellaswag/acc_norm acc"), std::string::npos) << md;

  const auto summary = lines_of(testing::read_file(f.dir / "out/report/summary.csv"));
  EXPECT_NE(summary[0].find("lm_eval/hellaswag.acc,lm_eval/hellaswag.acc_norm"), std::string::npos)
      << summary[0];
  // The step-25 checkpoint is on the curves, with the binomial SE of its 400 examples.
  EXPECT_NE(testing::read_file(f.dir / "out/report/curves.csv")
                .find("mdm,100000,25,250000,2.5,1500000000,lm_eval/hellaswag,acc_se,"
                      "0.02165063509"),
            std::string::npos);
}

// MMLU is a group: its count is the sum over its subtasks'; a later file (lm-eval run again)
// replaces an earlier one's tasks; a task without acc (perplexity) is left out.
TEST(LmEvalResults, GroupsSumTheirSubtasksAndLaterFilesWin) {
  testing::TempDir dir;
  json doc = lm_eval_json({{"mmlu_anatomy", 0.3, 0.3, 135}, {"mmlu_astronomy", 0.4, 0.4, 152}});
  doc["results"]["mmlu"] = {{"acc,none", 0.35}, {"acc_stderr,none", 0.02}, {"alias", "mmlu"}};
  doc["results"]["wikitext"] = {{"word_perplexity,none", 30.5}, {"alias", "wikitext"}};
  doc["group_subtasks"] = {{"mmlu", {"mmlu_stem"}},
                           {"mmlu_stem", {"mmlu_anatomy", "mmlu_astronomy"}}};
  const std::string run = dir / "run";
  write_lm_eval(run, 40, doc, "2026-12-06T12-00-00.000000");
  write_lm_eval(run, 40, lm_eval_json({{"mmlu_anatomy", 0.5, 0.5, 135}}),
                "2026-12-07T09-00-00.000000", "other_model");
  const auto steps = read_lm_eval_results(run);
  ASSERT_EQ(steps.size(), 1u);
  const auto& tasks = steps.at(40);
  EXPECT_DOUBLE_EQ(tasks.at("lm_eval/mmlu").examples, 135 + 152);
  EXPECT_TRUE(std::isnan(tasks.at("lm_eval/mmlu").acc_norm));
  EXPECT_EQ(tasks.count("lm_eval/mmlu/acc_norm"), 0u);
  EXPECT_DOUBLE_EQ(tasks.at("lm_eval/mmlu_anatomy").acc, 0.5);  // the later file
  EXPECT_DOUBLE_EQ(tasks.at("lm_eval/mmlu_astronomy").acc, 0.4);
  EXPECT_EQ(tasks.count("lm_eval/wikitext"), 0u);
}

TEST(LmEvalResults, ABadFileFailsNamingFileAndKey) {
  testing::TempDir dir;
  const std::string run = dir / "run";
  auto error_for = [&](const json& doc) {
    std::filesystem::remove_all(run);
    const std::string path = write_lm_eval(run, 10, doc);
    const std::string e = testing::error_of([&] { read_lm_eval_results(run); });
    EXPECT_NE(e.find(path), std::string::npos) << e;
    return e;
  };
  json doc = lm_eval_json({{"hellaswag", 0.4, 0.5, 100}});
  doc["results"]["hellaswag"]["acc,none"] = "N/A";
  EXPECT_NE(error_for(doc).find("results.\"hellaswag\".\"acc,none\" is \"N/A\", expected an "
                                "accuracy"),
            std::string::npos);
  doc = lm_eval_json({{"hellaswag", 0.4, 1.5, 100}});
  EXPECT_NE(error_for(doc).find("results.\"hellaswag\".\"acc_norm,none\" is 1.5, expected an "
                                "accuracy in [0, 1]"),
            std::string::npos);
  doc = lm_eval_json({{"hellaswag", 0.4, 0.5, 100}});
  doc["n-samples"]["hellaswag"] = {{"original", 100}};
  EXPECT_NE(error_for(doc).find("n-samples.\"hellaswag\" is {\"original\":100}, expected"),
            std::string::npos);
  doc.erase("results");
  EXPECT_NE(error_for(doc).find("no \"results\" object"), std::string::npos);
  // Truncated: a run that did not finish writing.
  std::filesystem::remove_all(run);
  const std::string path = write_lm_eval(run, 10, lm_eval_json({{"hellaswag", 0.4, 0.5, 100}}));
  const std::string text = testing::read_file(path);
  testing::write_file(path, text.substr(0, text.size() / 2));
  const std::string e = testing::error_of([&] { read_lm_eval_results(run); });
  EXPECT_NE(e.find(path + ": not JSON"), std::string::npos) << e;

  // The report fails with the same message instead of leaving the task out.
  testing::SweepFixture f;
  const Manifest m =
      f.plan_dir("base: base.yaml\ntotal_tokens: 1M\naxes: {objective.type: [ar, mdm]}\n");
  append_event(m.points[0].run_dir, eval_event(10, 1e5, 3.0));
  doc = lm_eval_json({{"arc_easy", 0.4, 0.5, 100}});
  doc["results"]["arc_easy"]["acc,none"] = nullptr;
  const std::string bad = write_lm_eval(m.points[0].run_dir, 10, doc);
  const std::string report_error = testing::error_of([&] { write_report(f.dir / "out"); });
  EXPECT_NE(report_error.find(bad + ": results.\"arc_easy\".\"acc,none\" is null"),
            std::string::npos)
      << report_error;
}

}  // namespace
}  // namespace crossover
