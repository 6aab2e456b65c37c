// crossover's Python side against crossover itself, on tiny AR and MDM runs:
//   - `crossover score` answers a task's options with the NLLs `crossover eval` decides with
//     (the same estimator, masks and forwards: equal predictions), rolling and id requests, and
//     bad requests named by file and line;
//   - lm-eval (python/crossover_lm, local task YAMLs over a HellaSwag- and an MMLU-form file,
//     offline) reports the accuracies `crossover eval` does (tests/python/lm_eval_check.py);
//   - crossover-wandb follows a sweep's metrics.jsonl into offline W&B runs, read back from
//     W&B's own files (tests/python/wandb_follow_check.py).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "crossover/data/tokenizer.h"
#include "fixtures.h"
#include "hf/hf_test_util.h"

namespace crossover {
namespace {

using testing::TempDir;

constexpr int kSamples = 8;  // mdm estimator samples per option: small, the check is exact

class LmEval : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = testing::make_data(*dir_);
    cloze_ = *dir_ / "cloze.jsonl";
    const auto r = testing::run_crossover("make-cloze --data " + data_ + " --out " + cloze_ +
                                          " --n 8 --ctx-tokens 8 --ending-tokens 4 --seed 3");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // The same examples in MMLU form: the context as the question.
    mmlu_ = *dir_ / "mmlu.jsonl";
    std::ifstream in(cloze_);
    std::string out, line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      out +=
          nlohmann::json{{"question", j["ctx"]}, {"choices", j["endings"]}, {"answer", j["label"]}}
              .dump() +
          "\n";
    }
    testing::write_file(mmlu_, out);
    for (const char* objective : {"ar", "mdm"}) {
      RunConfig c = testing::tiny_config(data_, objective);
      const std::string cfg = *dir_ / (std::string(objective) + ".yaml");
      testing::write_file(cfg, dump_config(c));
      const auto t = testing::run_crossover("train " + cfg + " --run-dir " + run(objective));
      ASSERT_EQ(t.exit_code, 0) << t.output;
    }
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string run(const std::string& objective) { return *dir_ / objective; }

  // `crossover eval` of a run on both task files: its report.
  static nlohmann::json eval(const std::string& objective, const std::string& dump = "") {
    const auto r = testing::run_crossover(
        "eval " + run(objective) + " --tasks " + cloze_ + " " + mmlu_ + " --task-samples " +
        std::to_string(kSamples) + " --val-sequences 1" + (dump.empty() ? "" : " --dump " + dump));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(testing::read_file(run(objective) + "/eval/step_00000040.json"));
  }

  static std::vector<nlohmann::json> score(const std::string& objective,
                                           const std::string& requests) {
    const std::string in = *dir_ / "requests.jsonl", out = *dir_ / "answers.jsonl";
    testing::write_file(in, requests);
    const auto r = testing::run_crossover("score " + run(objective) + " --requests " + in +
                                          " --out " + out + " --samples " +
                                          std::to_string(kSamples));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::vector<nlohmann::json> answers;
    std::ifstream f(out);
    std::string line;
    while (std::getline(f, line)) answers.push_back(nlohmann::json::parse(line));
    return answers;
  }

  static TempDir* dir_;
  static std::string data_, cloze_, mmlu_;
};
TempDir* LmEval::dir_ = nullptr;
std::string LmEval::data_, LmEval::cloze_, LmEval::mmlu_;

TEST_F(LmEval, ScoreGivesTheNllsEvalPredictsWith) {
  for (const std::string objective : {"ar", "mdm"}) {
    const std::string dump = *dir_ / (objective + "-dump.jsonl");
    eval(objective, dump);
    std::vector<int64_t> predicted;
    std::istringstream lines(testing::read_file(dump));
    for (std::string l; std::getline(lines, l);) {
      const auto j = nlohmann::json::parse(l);
      if (j["kind"] == "task_example" && j["task"] == "cloze")
        predicted.push_back(j["predicted"].get<int64_t>());
    }
    std::string requests;
    std::vector<size_t> options;
    std::ifstream in(cloze_);
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) {
      const auto j = nlohmann::json::parse(line);
      options.push_back(j["endings"].size());
      for (const auto& e : j["endings"])
        requests += nlohmann::json{{"context", j["ctx"]},
                                   {"continuation", " " + e.get<std::string>()},
                                   {"key", i}}
                        .dump() +
                    "\n";
    }
    const auto answers = score(objective, requests);
    ASSERT_EQ(predicted.size(), options.size());
    size_t a = 0;
    for (size_t i = 0; i < options.size(); ++i) {
      size_t best = 0;
      for (size_t j = 0; j < options[i]; ++j) {
        const auto& ans = answers.at(a + j);
        EXPECT_GT(ans["nll"].get<double>(), 0);
        EXPECT_EQ(ans["se"].get<double>() == 0, objective == "ar") << ans;
        if (ans["nll"].get<double>() < answers[a + best]["nll"].get<double>()) best = j;
      }
      EXPECT_EQ(static_cast<int64_t>(best), predicted[i]) << objective << " example " << i;
      a += options[i];
    }
  }
}

TEST_F(LmEval, ScoreTakesIdsAndRollingTextAndNamesBadLines) {
  const Tokenizer tok = Tokenizer::load(data_ + "/tokenizer.model");
  const std::string text = "the lord said unto moses and his people went out of egypt into the "
                           "land of light and water amen 3. the lord said unto his people";
  std::vector<int64_t> ids;
  for (const int32_t id : tok.encode(text)) ids.push_back(id);
  ASSERT_GT(ids.size(), 31u);  // more than one 32-token window
  // Rolling = the windows as id requests: [eos] + text, scored parts of 31 tokens.
  std::vector<int64_t> stream = {tok.special().eos};
  stream.insert(stream.end(), ids.begin(), ids.end());
  nlohmann::json rolling = {{"rolling", text}, {"key", 5}};
  // The same windows as id requests: window w is stream[w 31 .. w 31 + 32).
  std::string requests = rolling.dump() + "\n";
  size_t windows = 0;
  for (size_t start = 0; start + 1 < stream.size(); start += 31, ++windows)
    requests +=
        nlohmann::json{{"context_ids", {stream[start]}},
                       {"continuation_ids",
                        std::vector<int64_t>(stream.begin() + start + 1,
                                             stream.begin() + std::min(stream.size(), start + 32))}}
            .dump() +
        "\n";
  const auto ar = score("ar", requests);
  ASSERT_EQ(ar.size(), windows + 1);
  EXPECT_GE(windows, 2u);
  EXPECT_EQ(ar[0]["windows"], windows);
  EXPECT_EQ(ar[0]["tokens"], ids.size());
  double sum = 0;
  for (size_t w = 1; w <= windows; ++w) sum += ar[w]["nll"].get<double>();
  EXPECT_NEAR(ar[0]["nll"].get<double>(), sum, 1e-9);
  const auto mdm = score("mdm", rolling.dump() + "\n");
  EXPECT_GT(mdm[0]["se"].get<double>(), 0);

  const std::string bad = *dir_ / "bad.jsonl";
  testing::write_file(bad, rolling.dump() + "\n{\"continuation_ids\": [1, 99999]}\n");
  const auto r = testing::run_crossover("score " + run("ar") + " --requests " + bad);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(bad + ":2: \"continuation_ids\" holds 99999, not a token id in [0, 320)"),
            std::string::npos)
      << r.output;
}

TEST_F(LmEval, LmEvalReportsCrossoverEvalsAccuracyOffline) {
  CROSSOVER_ONCE_PER_CI();
  ASSERT_VENV();
  const std::string ar_eval = *dir_ / "ar-eval.json", mdm_eval = *dir_ / "mdm-eval.json";
  testing::write_file(ar_eval, eval("ar").dump());
  testing::write_file(mdm_eval, eval("mdm").dump());
  const auto r = testing::run_python(
      "lm_eval_check.py", std::string("--crossover ") + CROSSOVER_BINARY + " --ar " + run("ar") +
                              " --mdm " + run("mdm") + " --cloze " + cloze_ + " --mmlu " + mmlu_ +
                              " --ar-eval " + ar_eval + " --mdm-eval " + mdm_eval + " --mc-num " +
                              std::to_string(kSamples) + " --work " + *dir_ / "lm-eval");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto result = testing::python_result(r);
  ASSERT_TRUE(result.is_object()) << r.output;
  std::printf("%s\n", result.dump().c_str());
  // The task names lm-eval ran under (the YAMLs') and crossover's (file stems) differ.
  EXPECT_EQ(result["ar"].size(), 2u);
  EXPECT_EQ(result["mdm"].size(), 2u);
}

TEST_F(LmEval, WandbFollowerLogsEverySweepPointsMetricsOnceOffline) {
  CROSSOVER_ONCE_PER_CI();
  ASSERT_VENV();
  const auto r = testing::run_python("wandb_follow_check.py", "--runs " + run("ar") + " " +
                                                                  run("mdm") + " --work " +
                                                                  *dir_ / "wandb");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto result = testing::python_result(r);
  ASSERT_TRUE(result.is_object()) << r.output;
  EXPECT_EQ(result["runs"]["ar-p0"]["train_rows"], 40);
  EXPECT_EQ(result["runs"]["mdm-p1"]["eval_rows"], 2);
}

}  // namespace
}  // namespace crossover
