// The sweep scheduler with a fake launcher (skip finished, resume partial, parallelism, failures,
// stop requests) and the process launcher with a fake trainer script (arguments, working
// directory, output capture, signal forwarding).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "crossover/sweep/process.h"
#include "crossover/sweep/runner.h"
#include "crossover/util/run_lock.h"
#include "crossover/util/threads.h"
#include "sweep/sweep_fixture.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::append_event;
using testing::end_event;

const char* kFour = "base: base.yaml\ntotal_tokens: 1M\n"
                    "axes: {objective.type: [ar, mdm], data.unique_tokens: [100k, 1M]}\n";

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

RunnerOptions quiet(int parallel = 1) {
  RunnerOptions o;
  o.parallel = parallel;
  o.progress_every_s = 0;
  o.print = [](const std::string&) {};
  return o;
}

// A fake trainer: appends a history ending in `finished` and succeeds.
int finish(const LaunchRequest& r) {
  append_event(r.run_dir, {{"kind", "run"}, {"step", 0}, {"total_steps", 10}});
  append_event(r.run_dir, end_event("finished", 10));
  return 0;
}

TEST(SweepRun, SkipsFinishedAndResumesPartialPoints) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  append_event(f.dir / "out/runs/ar-u100k", end_event("finished", 10));          // done
  append_event(f.dir / "out/runs/mdm-u100k", {{"kind", "train"}, {"step", 4}});  // killed
  append_event(f.dir / "out/runs/ar-u1M", end_event("interrupted", 3));          // Ctrl-C earlier

  std::mutex mu;
  std::vector<LaunchRequest> launched;
  const auto r = run_sweep(m, quiet(), [&](const LaunchRequest& req) {
    {
      std::lock_guard<std::mutex> lock(mu);
      launched.push_back(req);
    }
    return finish(req);
  });
  EXPECT_EQ(r.already_finished, std::vector<std::string>{"ar-u100k"});
  EXPECT_EQ(as_set(r.finished), (std::set<std::string>{"ar-u1M", "mdm-u100k", "mdm-u1M"}));
  EXPECT_TRUE(r.failed.empty());
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(launched.size(), 3u);
  for (const auto& req : launched) {
    // The same run directory as before, so the trainer resumes from its checkpoint.
    EXPECT_EQ(req.run_dir, (f.dir.path() / "out/runs" / req.point).string());
    EXPECT_EQ(req.config_path, req.run_dir + "/config.yaml");
    EXPECT_EQ(req.workdir, f.dir.path().string());
    EXPECT_EQ(req.resume, req.point != "mdm-u1M") << req.point;
    EXPECT_EQ(req.threads, std::max(1, available_cores()));
  }
  // A second run has nothing left to do.
  int calls = 0;
  const auto again = run_sweep(m, quiet(), [&](const LaunchRequest&) { return ++calls, 0; });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(again.already_finished.size(), 4u);
}

TEST(SweepRun, AFailingPointIsReportedAndTheOthersContinue) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  std::vector<std::string> lines;
  RunnerOptions o = quiet();
  o.print = [&](const std::string& l) { lines.push_back(l); };
  const auto r = run_sweep(m, o, [&](const LaunchRequest& req) {
    if (req.point == "ar-u1M") return 1;   // crashes
    if (req.point == "mdm-u1M") return 0;  // exits 0 without finishing
    if (req.point == "ar-u100k") throw std::runtime_error("cannot start");  // launcher error
    return finish(req);
  });
  EXPECT_EQ(r.finished, std::vector<std::string>{"mdm-u100k"});
  EXPECT_EQ(as_set(r.failed), (std::set<std::string>{"ar-u100k", "ar-u1M", "mdm-u1M"}));
  EXPECT_FALSE(r.ok());
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  EXPECT_NE(all.find("ar-u1M: FAILED (exit status 1)"), std::string::npos) << all;
  EXPECT_NE(all.find("ar-u100k: FAILED (cannot start)"), std::string::npos) << all;
  EXPECT_NE(all.find("mdm-u1M: FAILED (it exited without a `finished` end event"),
            std::string::npos)
      << all;
}

TEST(SweepRun, RunsAtMostNAtATimeAndSharesTheCores) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  std::atomic<int> running{0}, peak{0};
  std::vector<int> threads;
  std::mutex mu;
  const auto r = run_sweep(m, quiet(2), [&](const LaunchRequest& req) {
    const int now = ++running;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      threads.push_back(req.threads);
    }
    // Hold the slot until a second run is in flight (or a generous timeout), so the test sees
    // the parallelism it asked for without depending on timing.
    for (int i = 0; i < 6000 && peak.load() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    --running;
    return finish(req);
  });
  EXPECT_EQ(r.finished.size(), 4u);
  EXPECT_EQ(peak.load(), 2);
  for (int t : threads) EXPECT_EQ(t, std::max(1, available_cores() / 2));
  // An explicit thread count wins; --only restricts the points.
  RunnerOptions o = quiet();
  o.threads_per_run = 3;
  o.only = {"ar-u1M"};
  fs::remove(f.dir / "out/runs/ar-u1M/metrics.jsonl");
  std::vector<std::string> seen;
  run_sweep(m, o, [&](const LaunchRequest& req) {
    seen.push_back(req.point);
    EXPECT_EQ(req.threads, 3);
    return finish(req);
  });
  EXPECT_EQ(seen, std::vector<std::string>{"ar-u1M"});
  o.only = {"nope"};
  EXPECT_THROW(run_sweep(m, o, finish), std::runtime_error);
}

TEST(SweepRun, AStopRequestStartsNothingNew) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  std::atomic<bool> stop{false};
  RunnerOptions o = quiet();
  o.stop = &stop;
  const auto r = run_sweep(m, o, [&](const LaunchRequest& req) {
    // Ctrl-C while the first point runs: it checkpoints and exits as interrupted.
    stop = true;
    append_event(req.run_dir, {{"kind", "train"}, {"step", 3}});
    append_event(req.run_dir, end_event("interrupted", 3));
    return 130;
  });
  EXPECT_EQ(r.interrupted, std::vector<std::string>{"ar-u100k"});
  EXPECT_EQ(r.not_started, (std::vector<std::string>{"ar-u1M", "mdm-u100k", "mdm-u1M"}));
  EXPECT_TRUE(r.failed.empty());
  EXPECT_FALSE(r.ok());
}

TEST(SweepRun, APointAnotherTrainerHoldsIsLeftToItAndReportedAsBusy) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  // Another trainer (this process stands in for it) holds ar-u1M before the sweep starts, and
  // takes mdm-u1M between the sweep's check and its start, so that trainer is refused.
  const std::string held = f.dir / "out/runs/ar-u1M", raced = f.dir / "out/runs/mdm-u1M";
  RunLock other(held);
  std::optional<RunLock> racer;
  std::vector<std::string> lines, launched;
  std::mutex mu;
  RunnerOptions o = quiet();
  o.print = [&](const std::string& l) { lines.push_back(l); };
  const auto r = run_sweep(m, o, [&](const LaunchRequest& req) {
    {
      std::lock_guard<std::mutex> lock(mu);
      launched.push_back(req.point);
    }
    if (req.run_dir == raced) {
      racer.emplace(raced);
      return 1;  // what the refused trainer exits with
    }
    return finish(req);
  });
  EXPECT_EQ(as_set(r.busy), (std::set<std::string>{"ar-u1M", "mdm-u1M"}));
  EXPECT_EQ(as_set(r.finished), (std::set<std::string>{"ar-u100k", "mdm-u100k"}));
  EXPECT_TRUE(r.failed.empty());
  EXPECT_FALSE(r.ok()) << "a busy point is not done";
  EXPECT_EQ(std::count(launched.begin(), launched.end(), "ar-u1M"), 0) << "never started";
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  const std::string me = "pid " + std::to_string(::getpid()) + " on host ";
  EXPECT_NE(all.find("ar-u1M: skipped, already being trained by " + me), std::string::npos) << all;
  EXPECT_NE(all.find("mdm-u1M: refused, already being trained by " + me), std::string::npos) << all;
  EXPECT_NE(all.find("(" + held + "/.lock)"), std::string::npos) << all;
}

// A fake `crossover train`: records its arguments and directory, then either finishes at once
// or (when DIR/block exists) waits for a signal, records it as an interrupted end and exits.
const char* kFakeTrainer = R"(#!/bin/sh
run_dir="$4"
echo "$@" > "$run_dir/args.txt"
pwd > "$run_dir/cwd.txt"
echo "fake trainer output"
if [ -f "$run_dir/../../block" ]; then
  trap 'echo "{\"kind\":\"end\",\"status\":\"interrupted\",\"reason\":\"signal\",\"step\":1}" >> "$run_dir/metrics.jsonl"; echo TERM > "$run_dir/signal.txt"; exit 143' TERM
  trap 'echo INT > "$run_dir/signal.txt"; exit 130' INT
  echo '{"kind":"train","step":1}' >> "$run_dir/metrics.jsonl"
  touch "$run_dir/started"
  i=0; while [ $i -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done; exit 3  # bounded: never left behind
fi
echo '{"kind":"end","status":"finished","reason":"done","step":10}' >> "$run_dir/metrics.jsonl"
)";

std::string write_fake_trainer(const testing::TempDir& dir) {
  const std::string path = dir / "fake-crossover.sh";
  testing::write_file(path, kFakeTrainer);
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

bool wait_for(const std::string& path, double seconds) {
  for (int i = 0; i < seconds * 100; ++i) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(SweepProcess, LaunchesTheTrainerInTheWorkdirWithItsOutputCaptured) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  const std::string fake = write_fake_trainer(f.dir);
  RunnerOptions o = quiet(2);
  o.threads_per_run = 2;
  const auto r = run_sweep(m, o, process_launcher(fake));
  EXPECT_EQ(r.finished.size(), 4u);
  const std::string run = f.dir / "out/runs/mdm-u1M";
  EXPECT_EQ(testing::read_file(run + "/args.txt"),
            "train " + run + "/config.yaml --run-dir " + run + " --threads 2\n");
  EXPECT_EQ(testing::read_file(run + "/cwd.txt"), f.dir.path().string() + "\n");
  const std::string log = testing::read_file(run + "/console.log");
  EXPECT_NE(log.find("==== crossover sweep run"), std::string::npos) << log;
  EXPECT_NE(log.find("fake trainer output"), std::string::npos) << log;
  // Exit statuses come back, signals as 128 + signal.
  EXPECT_EQ(run_process({"/bin/sh", "-c", "exit 3"}, "", f.dir / "x.log"), 3);
  EXPECT_EQ(run_process({"/bin/sh", "-c", "kill -9 $$"}, "", f.dir / "x.log"), 128 + 9);
  EXPECT_THROW(run_process({f.dir / "missing"}, "", f.dir / "x.log"), std::runtime_error);
}

TEST(SweepProcess, StopForwardsTheSignalAndTheRunResumesLater) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  const std::string fake = write_fake_trainer(f.dir);
  testing::write_file(f.dir / "out/block", "");
  std::atomic<bool> stop{false};
  RunnerOptions o = quiet(1);
  o.stop = &stop;
  RunnerResult r;
  std::thread sweep([&] { r = run_sweep(m, o, process_launcher(fake)); });
  const std::string run = f.dir / "out/runs/ar-u100k";
  const bool started = wait_for(run + "/started", 20);
  stop = true;
  EXPECT_EQ(signal_children(SIGTERM), started ? 1 : 0);
  sweep.join();
  clear_child_stop();
  ASSERT_TRUE(started);
  EXPECT_EQ(testing::read_file(run + "/signal.txt"), "TERM\n");
  EXPECT_EQ(r.interrupted, std::vector<std::string>{"ar-u100k"});
  EXPECT_EQ(r.not_started.size(), 3u);

  // The next sweep run resumes the interrupted point and finishes everything.
  fs::remove(f.dir / "out/block");
  o.stop = nullptr;
  const auto again = run_sweep(m, o, process_launcher(fake));
  EXPECT_EQ(again.finished.size(), 4u);
  EXPECT_TRUE(again.ok());
}

}  // namespace
}  // namespace crossover
