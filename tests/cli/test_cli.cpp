#include <gtest/gtest.h>

#include "test_util.h"

namespace crossover {
namespace {

using testing::run_crossover;

TEST(Cli, HelpDescribesCommands) {
  const auto r = run_crossover("--help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("config"), std::string::npos) << r.output;
  const auto show = run_crossover("config show --help");
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_NE(show.output.find("--set"), std::string::npos) << show.output;
}

TEST(Cli, UnknownCommandIsAOneLineUsageError) {
  const auto r = run_crossover("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "crossover: unknown command 'frobnicate' (see crossover --help)\n");
}

TEST(Cli, UnknownOptionIsAOneLineUsageError) {
  const auto r = run_crossover("config show --frobnicate x.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("--frobnicate"), std::string::npos) << r.output;
}

TEST(Cli, ConfigShowPrintsResolvedYaml) {
  testing::TempDir dir;
  testing::write_file(dir / "run.yaml", "optimizer:\n  lr: 1e-3\n");
  const auto r = run_crossover("config show " + (dir / "run.yaml") + " --set model.layers=7");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("  lr: 0.001"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  layers: 7"), std::string::npos) << r.output;
}

TEST(Cli, ConfigErrorsExitOneWithTheMessage) {
  testing::TempDir dir;
  testing::write_file(dir / "run.yaml", "optimizer:\n  lr: fast\n");
  const auto r = run_crossover("config show " + (dir / "run.yaml"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(":2: optimizer.lr: expected a positive number, got \"fast\""),
            std::string::npos)
      << r.output;
}

// The paper's AR and MDM configs are one recipe: they differ only in the objective.
TEST(Cli, ConfigDiffSaysWhetherOnlyTheObjectiveDiffers) {
  for (const char* size : {"1b", "8b"}) {
    const auto r = run_crossover(
        "config diff " + testing::source_path(std::string("configs/") + size + "-ar.yaml") + " " +
        testing::source_path(std::string("configs/") + size + "-mdm.yaml"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, "objective.type: ar -> mdm\n1 key(s) differ; only objective.*: the model, "
                        "data, optimizer and schedule are the same\n")
        << size;
  }
  testing::TempDir dir;
  testing::write_file(dir / "a.yaml", "optimizer:\n  lr: 1e-3\n");
  testing::write_file(dir / "b.yaml", "optimizer:\n  lr: 2e-3\nobjective:\n  type: mdm\n");
  const auto r = run_crossover("config diff " + (dir / "a.yaml") + " " + (dir / "b.yaml"));
  EXPECT_NE(r.output.find("optimizer.lr: 0.001 -> 0.002\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 key(s) differ; not only objective.*"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace crossover
