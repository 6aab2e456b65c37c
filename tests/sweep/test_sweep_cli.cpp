// `crossover sweep ...` through the binary: plan, status, slurm, run (a failing point, and
// Ctrl-C safety with a fake trainer), report, and the plotting script on the report.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "crossover/util/run_lock.h"
#include "sweep/sweep_fixture.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::run_command;

const char* kTwo = "base: base.yaml\ntotal_tokens: 100k\n"
                   "axes: {objective.type: [ar, mdm], data.unique_tokens: [20k]}\n"
                   "eval: {per_epoch: 1}\n";

// Runs crossover in `dir`, so relative data paths resolve there, as they would for a user.
testing::CommandResult crossover_in(const testing::TempDir& dir, const std::string& args) {
  return run_command("cd " + dir.path().string() + " && " + CROSSOVER_BINARY + " " + args);
}

bool wait_for(const fs::path& path, double seconds) {
  for (int i = 0; i < seconds * 100 && !fs::exists(path); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return fs::exists(path);
}

TEST(SweepCli, PlanStatusSlurmRunReport) {
  testing::SweepFixture f;
  f.sweep_file(kTwo);
  auto r = crossover_in(f.dir, "sweep plan sweep.yaml --out out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ar-u20k"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 points: 2 new, 0 already planned"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(f.dir / "out/runs/mdm-u20k/config.yaml"));
  r = crossover_in(f.dir, "sweep plan sweep.yaml --out out");
  EXPECT_NE(r.output.find("2 points: 0 new, 2 already planned"), std::string::npos) << r.output;

  // A typo in the sweep file: one error line naming the file, line and key; exit 1.
  f.sweep_file("base: base.yaml\ntotal_tokens: 1M\naxes: {objective.typ: [ar]}\n", "bad.yaml");
  r = crossover_in(f.dir, "sweep plan bad.yaml --out bad");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("bad.yaml:3: axes.objective.typ: unknown run-config key"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(f.dir / "bad"));

  r = crossover_in(f.dir, "sweep status out");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not started"), std::string::npos) << r.output;

  r = crossover_in(f.dir, "sweep slurm out --partition gpu --gpus-per-node 4 --time 12:00:00");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("sbatch " + (f.dir / "out") + "/sweep.sbatch"), std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::is_directory(f.dir / "out/slurm"));
  EXPECT_NE(testing::read_file(f.dir / "out/sweep.sbatch").find("#SBATCH --array=0-1\n"),
            std::string::npos);

  // The data directory does not exist, so the real trainer fails: reported, exit 1.
  r = crossover_in(f.dir, "sweep run out --only ar-u20k --progress-every 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("ar-u20k: FAILED"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 point(s) failed: ar-u20k"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(f.dir / "out/runs/ar-u20k/console.log"));

  // Synthetic histories, then the report.
  for (const char* p : {"ar-u20k", "mdm-u20k"}) {
    fs::remove(f.dir / ("out/runs/" + std::string(p) + "/metrics.jsonl"));
    for (int i = 1; i <= 5; ++i) {
      const double t = 2e4 * i;
      const double loss = p[0] == 'a' ? 3.0 + 0.02 * i : 3.3 - 0.1 * i;
      testing::append_event(f.dir / ("out/runs/" + std::string(p)),
                            {{"kind", "eval"},
                             {"step", i * 39},
                             {"tokens", t},
                             {"unique_tokens", 2e4},
                             {"epoch", t / 2e4},
                             {"flops", 1e9 * i},
                             {"val_loss", loss},
                             {"val_loss_se", 0.0},
                             {"val_ppl", std::exp(loss)},
                             {"tasks",
                              {{"cloze",
                                {{"acc", 0.3 + (p[0] == 'a' ? 0.01 : 0.05) * i},
                                 {"acc_norm", 0.3},
                                 {"delta_nll", 0.1 * i},
                                 {"nll_right", 2.0},
                                 {"nll_wrong", 2.0},
                                 {"examples", 50}}}}}});
    }
    testing::append_event(f.dir / ("out/runs/" + std::string(p)),
                          testing::end_event("finished", 195));
  }
  r = crossover_in(f.dir, "sweep report out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("u20k: val loss: MDM overtakes at"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("R* (mdm, all)"), std::string::npos) << r.output;
  for (const char* name : {"summary.csv", "curves.csv", "crossovers.csv", "summary.md"})
    EXPECT_TRUE(fs::exists(f.dir / ("out/report/" + std::string(name)))) << name;

  // The figures, with Debian's Python and matplotlib when this machine has them.
  if (run_command("/usr/bin/python3 -c 'import matplotlib, numpy'").exit_code != 0)
    GTEST_SKIP() << "no /usr/bin/python3 with matplotlib here";
  r = run_command("/usr/bin/python3 " + testing::source_path("scripts/analysis/plot-sweep.py") +
                  " " + (f.dir / "out") + " --docs " + (f.dir / "docs"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* png :
       {"val_loss_u20k.png", "acc_u20k.png", "delta_nll_u20k.png", "val_loss_overview.png"}) {
    EXPECT_TRUE(fs::exists(f.dir / ("out/report/" + std::string(png)))) << png << r.output;
    EXPECT_TRUE(fs::exists(f.dir / ("docs/" + std::string(png)))) << png;
    EXPECT_LT(fs::file_size(f.dir / ("out/report/" + std::string(png))), 150'000u) << png;
  }
}

TEST(SweepCli, APointAnotherTrainerHoldsShowsAsRunningAndIsNotStarted) {
  testing::SweepFixture f;
  f.sweep_file(kTwo);
  ASSERT_EQ(crossover_in(f.dir, "sweep plan sweep.yaml --out out").exit_code, 0);
  const RunLock other(f.dir / "out/runs/ar-u20k");  // this process stands in for a trainer
  auto r = crossover_in(f.dir, "sweep status out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto line = [&](const std::string& point) {
    const auto at = r.output.find(point);
    return at == std::string::npos ? "" : r.output.substr(at, r.output.find('\n', at) - at);
  };
  EXPECT_NE(line("ar-u20k").find("running"), std::string::npos) << r.output;
  EXPECT_NE(line("mdm-u20k").find("not started"), std::string::npos) << r.output;

  r = crossover_in(f.dir, "sweep run out --only ar-u20k --progress-every 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(
      r.output.find("ar-u20k: skipped, already being trained by pid " + std::to_string(::getpid())),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("1 point(s) are being trained by another process: ar-u20k"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(f.dir / "out/runs/ar-u20k/console.log")) << "no trainer was started";
}

TEST(SweepCli, SigtermStopsTheRunsAtACheckpointAndExitsNonZero) {
  testing::SweepFixture f;
  f.sweep_file(kTwo);
  ASSERT_EQ(crossover_in(f.dir, "sweep plan sweep.yaml --out out").exit_code, 0);
  // A fake trainer that waits for a signal and records it.
  testing::write_file(f.dir / "fake.sh", R"(#!/bin/sh
run_dir="$4"
trap 'echo TERM > "$run_dir/signal.txt"; exit 143' TERM
trap 'echo INT > "$run_dir/signal.txt"; exit 130' INT
touch "$run_dir/started"
i=0; while [ $i -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done; exit 3  # bounded: never left behind
)");
  fs::permissions(f.dir / "fake.sh", fs::perms::owner_all);
  run_command(
      "cd " + f.dir.path().string() + " && sh -c '" + CROSSOVER_BINARY +
      " sweep run out --parallel 2 --progress-every 0 --binary " + (f.dir / "fake.sh") +
      " > run.out 2>&1 & echo $! > run.pid; wait $!; echo $? > run.rc.tmp; mv run.rc.tmp run.rc'"
      " > /dev/null 2>&1 &");  // run.rc appears whole: the test reads it as soon as it exists
  ASSERT_TRUE(wait_for(f.dir.path() / "out/runs/ar-u20k/started", 30));
  ASSERT_TRUE(wait_for(f.dir.path() / "out/runs/mdm-u20k/started", 30));
  ::kill(std::stoi(testing::read_file(f.dir / "run.pid")), SIGTERM);
  ASSERT_TRUE(wait_for(f.dir.path() / "run.rc", 30));
  const std::string out = testing::read_file(f.dir / "run.out");
  EXPECT_EQ(testing::read_file(f.dir / "run.rc"), "1\n") << out;
  EXPECT_NE(out.find("received SIGTERM: forwarded to 2 running point(s)"), std::string::npos)
      << out;
  EXPECT_NE(out.find("interrupted; run it again"), std::string::npos) << out;
  for (const char* p : {"ar-u20k", "mdm-u20k"})
    EXPECT_EQ(testing::read_file(f.dir / ("out/runs/" + std::string(p) + "/signal.txt")), "TERM\n")
        << p;
}

}  // namespace
}  // namespace crossover
