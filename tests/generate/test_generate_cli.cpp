// `crossover generate` and `crossover bench generate` on tiny AR and MDM runs trained through
// the binary, as a user runs them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "fixtures.h"

namespace crossover {
namespace {

using testing::run_command;
using testing::TempDir;

class GenerateCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string data = testing::make_data(*dir_);
    for (const std::string objective : {"ar", "mdm"}) {
      RunConfig c = testing::tiny_config(data, objective);
      c.data.total_tokens = TokenCount(10 * 8 * 32);  // 10 steps
      const std::string cfg = *dir_ / (objective + ".yaml");
      testing::write_file(cfg, dump_config(c));
      const std::string run = *dir_ / ("run-" + objective);
      trained_[objective] =
          run_command(std::string(CROSSOVER_BINARY) + " train " + cfg + " --run-dir " + run);
      runs_[objective] = run;
    }
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override {
    for (const auto& [objective, r] : trained_) ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  // stdout only (the log lines on stderr carry times).
  static testing::CommandResult stdout_of(const std::string& args) {
    std::string command = "(";
    command += CROSSOVER_BINARY;
    command += " " + args + " 2>/dev/null)";
    return run_command(command);
  }

  static TempDir* dir_;
  static std::map<std::string, testing::CommandResult> trained_;
  static std::map<std::string, std::string> runs_;
};
TempDir* GenerateCli::dir_ = nullptr;
std::map<std::string, testing::CommandResult> GenerateCli::trained_;
std::map<std::string, std::string> GenerateCli::runs_;

TEST_F(GenerateCli, CompletesBatchedPromptsForBothObjectives) {
  const auto ar = testing::run_crossover("generate " + runs_["ar"] +
                                         " --prompt 'the lord' --prompt 'moses went out of' "
                                         "--max-new 6 --temperature 0 --threads 1");
  ASSERT_EQ(ar.exit_code, 0) << ar.output;
  EXPECT_NE(ar.output.find("--- 0: "), std::string::npos) << ar.output;
  EXPECT_NE(ar.output.find("--- 1: "), std::string::npos) << ar.output;
  EXPECT_NE(ar.output.find("\nthe lord"), std::string::npos) << ar.output;
  EXPECT_NE(ar.output.find("\nmoses went out of"), std::string::npos) << ar.output;

  const std::string mdm_args = "generate " + runs_["mdm"] +
                               " --prompt 'the lord' --prompt 'and his people went' --max-new 8 "
                               "--steps 4 --block-length 4 --cache prefix --temperature 1 "
                               "--seed 3 --threads 1";
  const auto mdm = stdout_of(mdm_args);
  ASSERT_EQ(mdm.exit_code, 0) << testing::run_crossover(mdm_args).output;
  EXPECT_NE(mdm.output.find("\nthe lord"), std::string::npos) << mdm.output;
  EXPECT_NE(mdm.output.find("\nand his people went"), std::string::npos) << mdm.output;
  EXPECT_EQ(mdm.output.find("[MASK]"), std::string::npos) << mdm.output;
  EXPECT_EQ(stdout_of(mdm_args).output, mdm.output) << "same seed, same completions";
}

TEST_F(GenerateCli, ErrorsNameTheLimitAndIgnoredOptionsAreReported) {
  const auto r = testing::run_crossover("generate " + runs_["ar"] +
                                        " --prompt 'the lord' --max-new 100 --threads 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("maximum sequence length 32"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data.seq_len"), std::string::npos) << r.output;

  const auto w = testing::run_crossover("generate " + runs_["ar"] +
                                        " --prompt 'the lord' --max-new 2 --steps 4 --threads 1");
  EXPECT_EQ(w.exit_code, 0) << w.output;
  EXPECT_NE(w.output.find("--steps applies to mdm runs only"), std::string::npos) << w.output;

  const auto none = testing::run_crossover("generate " + runs_["ar"] + " --threads 1");
  EXPECT_EQ(none.exit_code, 1) << none.output;
  EXPECT_NE(none.output.find("no prompt"), std::string::npos) << none.output;
}

TEST_F(GenerateCli, BenchReportsEverySettingAndTheCacheDisagreement) {
  const std::string json = *dir_ / "bench.json";
  const auto r =
      testing::run_crossover("bench generate " + runs_["ar"] + " " + runs_["mdm"] +
                             " --len 100 --batch 1,2 --prompt-len 4 --threads 1 --json " + json +
                             " --mdm steps=14,block=4,cache=prefix --mdm threshold=0.5,block=4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("len capped to 28"), std::string::npos) << r.output;
  const auto j = nlohmann::json::parse(testing::read_file(json));
  EXPECT_EQ(j["meta"]["len"], 28);
  // Per batch: AR, then the prefix setting's no-cache twin (added), the prefix setting and the
  // threshold setting.
  ASSERT_EQ(j["results"].size(), 8u) << j.dump(1);
  int prefix_rows = 0;
  for (const auto& row : j["results"]) {
    EXPECT_GT(row["tokens_per_s"].get<double>(), 0);
    if (row["model"] == "ar") EXPECT_EQ(row["forward_calls"], 28);
    if (row["setting"] == "steps=14 block=4 cache=prefix") {
      ++prefix_rows;
      EXPECT_EQ(row["tokens_per_forward"], 2.0);
      EXPECT_GE(row["differs_tokens"].get<double>(), 0.0);
      EXPECT_LE(row["differs_tokens"].get<double>(), 1.0);
      EXPECT_TRUE(row.contains("differs_sequences"));
    }
  }
  EXPECT_EQ(prefix_rows, 2);
}

}  // namespace
}  // namespace crossover
