// End-to-end runs of `crossover train` as a user starts them: exact resume after a kill, crash
// safety of checkpoints, refused config changes, signals, divergence, one trainer per run
// directory.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/checkpoint/loaded_model.h"
#include "crossover/util/metrics.h"
#include "crossover/util/run_lock.h"
#include "crossover/util/safetensors.h"
#include "fixtures.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::TempDir;

class TrainerRuns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = testing::make_data(*dir_);
  }
  static void TearDownTestSuite() { delete dir_; }

  // Writes a config file for `objective` with extra overrides applied.
  std::string config(const std::string& objective, const std::vector<std::string>& sets = {}) {
    RunConfig c = testing::tiny_config(data_, objective);
    for (const auto& s : sets) apply_override(c, s);
    const std::string path = tmp_ / ("run-" + std::to_string(counter_++) + ".yaml");
    testing::write_file(path, dump_config(c));
    return path;
  }
  testing::CommandResult train(const std::string& cfg, const std::string& run,
                               const std::string& env = "", const std::string& extra = "") {
    return run_command(env + " " + CROSSOVER_BINARY + " train " + cfg + " --run-dir " + run + " " +
                       extra);
  }
  // Starts `crossover train CFG --run-dir RUN` in the background, stderr (the log) to RUN.log.
  static pid_t start_train(const std::string& cfg, const std::string& run) {
    const pid_t pid = fork();
    if (pid == 0) {
      const std::string out = run + ".log";
      freopen(out.c_str(), "w", stderr);
      execl(CROSSOVER_BINARY, CROSSOVER_BINARY, "train", cfg.c_str(), "--run-dir", run.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  }
  // Waits until RUN's metrics.jsonl holds `n` train events (at most a minute).
  static void wait_for_steps(const std::string& run, size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (fs::exists(run + "/metrics.jsonl") && events(run, "train").size() >= n) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << run << ": fewer than " << n << " train events after a minute";
  }
  static std::string hostname() {
    char name[256] = {};
    gethostname(name, sizeof(name) - 1);
    return name;
  }
  static std::vector<nlohmann::json> events(const std::string& run, const std::string& kind) {
    std::vector<nlohmann::json> out;
    for (auto& e : read_metrics(run + "/metrics.jsonl"))
      if (e["kind"] == kind) out.push_back(e);
    return out;
  }

  static TempDir* dir_;
  static std::string data_;
  TempDir tmp_;
  int counter_ = 0;
};
TempDir* TrainerRuns::dir_ = nullptr;
std::string TrainerRuns::data_;

TEST_F(TrainerRuns, KilledAndResumedRunRepeatsTheStraightRunBitForBit) {
  for (const std::string objective : {"ar", "mdm"}) {
    const std::string cfg = config(objective);
    const std::string a = tmp_ / ("straight-" + objective), b = tmp_ / ("killed-" + objective);
    const auto straight = train(cfg, a);
    ASSERT_EQ(straight.exit_code, 0) << straight.output;
    // SIGKILL right after step 25: the last committed checkpoint is step 20, or step 10 when
    // the background write of step 20 had not finished by then (a loaded machine).
    const auto killed = train(cfg, b, "CROSSOVER_FAULT=step@25");
    ASSERT_NE(killed.exit_code, 0);
    const std::string latest = Checkpointer::find(b);
    ASSERT_TRUE(latest == b + "/checkpoints/step_00000020" ||
                latest == b + "/checkpoints/step_00000010")
        << latest;
    const auto resumed = train(cfg, b);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resumed from"), std::string::npos);

    const auto ta = events(a, "train"), tb = events(b, "train");
    ASSERT_EQ(ta.size(), 40u);
    ASSERT_EQ(tb.size(), 40u) << "one train event per step after the resume";
    for (size_t i = 0; i < ta.size(); ++i) {
      EXPECT_EQ(tb[i]["step"], ta[i]["step"]);
      // Bitwise, which holds on the CPU (one machine, one thread count, deterministic kernels);
      // on a GPU, where kernels are not bitwise deterministic, the bundle's check
      // (scripts/gpu/bundle/run.sh) compares a resume with a tolerance. JSON keeps doubles'
      // full precision.
      EXPECT_EQ(tb[i]["loss"].get<double>(), ta[i]["loss"].get<double>())
          << objective << " step " << i + 1;
      EXPECT_EQ(tb[i]["grad_norm"].get<double>(), ta[i]["grad_norm"].get<double>());
    }
    const auto ea = events(a, "eval"), eb = events(b, "eval");
    ASSERT_EQ(ea.size(), eb.size());
    EXPECT_EQ(eb.back()["val_loss"].get<double>(), ea.back()["val_loss"].get<double>());
    EXPECT_EQ(events(b, "end").back()["status"], "finished");
  }
}

TEST_F(TrainerRuns, KillDuringCheckpointWriteKeepsThePreviousCheckpoint) {
  // Synchronous, and in the background while the next steps run.
  for (const bool async : {false, true}) {
    SCOPED_TRACE(async ? "checkpoint.async: true" : "checkpoint.async: false");
    const std::string cfg = config("ar",
                                   {std::string("checkpoint.async=") + (async ? "true" : "false")});
    const std::string run = tmp_ / (async ? "crash-async" : "crash");
    const auto killed = train(cfg, run, "CROSSOVER_FAULT=checkpoint@20");
    ASSERT_NE(killed.exit_code, 0);
    EXPECT_TRUE(fs::exists(run + "/checkpoints/step_00000020.tmp"));  // the torn write
    EXPECT_FALSE(fs::exists(run + "/checkpoints/step_00000020"));
    const std::string latest = Checkpointer::find(run);
    EXPECT_EQ(latest, run + "/checkpoints/step_00000010");
    EXPECT_EQ(Checkpointer::read_state(latest)["step"], 10);  // intact: every checksum verifies
    const auto resumed = train(cfg, run);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    EXPECT_FALSE(fs::exists(run + "/checkpoints/step_00000020.tmp"));
    EXPECT_EQ(Checkpointer::find(run), run + "/checkpoints/step_00000040");
  }
}

TEST_F(TrainerRuns, BackgroundCheckpointsAreCommittedWhileTheNextStepsRun) {
  const std::string run = tmp_ / "background";
  const auto r = train(config("ar", {"checkpoint.keep_last=2"}), run);  // async is the default
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The periodic checkpoints were written in the background, the last one (waited for) not;
  // each is reported once, when the trainer learned of its commit.
  std::vector<int64_t> periodic;
  for (const auto& e : events(run, "checkpoint")) {
    if (e["step"] == 40) {
      EXPECT_FALSE(e["background"].get<bool>());
      continue;
    }
    EXPECT_TRUE(e["background"].get<bool>());
    EXPECT_EQ(e["path"],
              run + "/checkpoints/step_000000" + std::to_string(e["step"].get<int64_t>()));
    periodic.push_back(e["step"]);
  }
  EXPECT_EQ(periodic, (std::vector<int64_t>{10, 20, 30}));
  for (int64_t s : {30, 40})
    EXPECT_EQ(
        Checkpointer::read_state(run + "/checkpoints/step_000000" + std::to_string(s))["step"], s);
  EXPECT_FALSE(fs::exists(run + "/checkpoints/step_00000010")) << "keep_last: 2";
}

TEST_F(TrainerRuns, CorruptTensorFileIsCaughtByItsChecksum) {
  // Written synchronously: step 10 is the latest when step 15 is killed.
  const std::string cfg = config("ar", {"checkpoint.async=false"}), run = tmp_ / "corrupt";
  ASSERT_EQ(train(cfg, run, "CROSSOVER_FAULT=step@15").exit_code == 0, false);
  const std::string file = run + "/checkpoints/step_00000010/model.safetensors";
  std::string bytes = testing::read_file(file);
  bytes[bytes.size() - 3] ^= 0x5a;
  testing::write_file(file, bytes);
  const auto r = train(cfg, run);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(file + ": checksum mismatch"), std::string::npos) << r.output;
}

TEST_F(TrainerRuns, ResumeRefusesAConfigChangeThatBreaksTheRunByName) {
  const std::string run = tmp_ / "change";
  ASSERT_NE(
      train(config("ar", {"checkpoint.async=false"}), run, "CROSSOVER_FAULT=step@12").exit_code, 0);
  const auto r = train(config("ar", {"model.d_model=64"}), run);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("model.d_model is 32 there but 64 in this config"), std::string::npos)
      << r.output;
  const auto obj = train(config("mdm"), run);
  EXPECT_NE(obj.output.find("objective.type is ar there but mdm"), std::string::npos) << obj.output;
  // Evaluation and logging settings may change.
  const auto ok = train(config("ar", {"eval.every=5"}), run);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

TEST_F(TrainerRuns, SigintCheckpointsAndStopsWithStatus130) {
  const std::string cfg = config("ar", {"data.total_tokens=1024000"});  // 4000 steps
  const std::string run = tmp_ / "sigint";
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string out = run + ".log";
    freopen(out.c_str(), "w", stderr);
    execl(CROSSOVER_BINARY, CROSSOVER_BINARY, "train", cfg.c_str(), "--run-dir", run.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for a few steps, then interrupt like Ctrl-C.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(run + "/metrics.jsonl") && events(run, "train").size() >= 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const auto end = events(run, "end");
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0]["status"], "interrupted");
  const int64_t stopped = end[0]["step"].get<int64_t>();
  EXPECT_GE(stopped, 5);
  EXPECT_LT(stopped, 4000);
  EXPECT_EQ(Checkpointer::read_state(Checkpointer::find(run))["step"], stopped);
}

TEST_F(TrainerRuns, ASecondTrainerOnARunDirectoryIsRefusedAndTheFirstKeepsItsHistory) {
  const std::string cfg = config("ar", {"data.total_tokens=1024000"});  // 4000 steps
  const std::string run = tmp_ / "two-trainers";
  const pid_t first = start_train(cfg, run);
  wait_for_steps(run, 3);
  const auto t0 = std::chrono::steady_clock::now();
  const auto second = train(cfg, run);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(second.output.find(run + " is in use: pid " + std::to_string(first) + " on host " +
                               hostname() + ", started "),
            std::string::npos)
      << second.output;
  EXPECT_NE(second.output.find("holds " + run + "/.lock"), std::string::npos) << second.output;
  // Refused before it set anything up.
  EXPECT_EQ(second.output.find("model:"), std::string::npos) << second.output;
  std::printf("second trainer refused after %.2f s\n", seconds);

  wait_for_steps(run, 8);  // the first trains on
  kill(first, SIGINT);
  int status = 0;
  waitpid(first, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  // One clean history: one run event, every step once and in order, one end event last.
  const auto all = read_metrics(run + "/metrics.jsonl");
  EXPECT_EQ(events(run, "run").size(), 1u);
  const auto steps = events(run, "train");
  ASSERT_GE(steps.size(), 8u);
  for (size_t i = 0; i < steps.size(); ++i)
    EXPECT_EQ(steps[i]["step"], static_cast<int64_t>(i + 1));
  ASSERT_EQ(events(run, "end").size(), 1u);
  EXPECT_EQ(all.back()["kind"], "end");
  EXPECT_EQ(all.back()["status"], "interrupted");
  EXPECT_EQ(Checkpointer::read_state(Checkpointer::find(run))["step"], all.back()["step"]);
  EXPECT_EQ(testing::read_file(run + "/train.log").find("is in use"), std::string::npos);
  EXPECT_FALSE(RunLock::holder(run)) << "released when the first trainer exited";
}

TEST_F(TrainerRuns, TheLockOfAKilledTrainerIsTakenOverWithAWarning) {
  // Written synchronously: step 10's checkpoint is there to resume from.
  const std::string cfg = config("ar", {"checkpoint.async=false"}), run = tmp_ / "killed-holder";
  ASSERT_NE(train(cfg, run, "CROSSOVER_FAULT=step@15").exit_code, 0);
  // SIGKILL runs no destructor: the lock file still names the dead trainer.
  const auto left = nlohmann::json::parse(testing::read_file(run + "/.lock"));
  const auto resumed = train(cfg, run);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find(run + "/.lock: taking over a stale lock: pid " +
                                std::to_string(left["pid"].get<int64_t>()) + " on host " +
                                hostname() + ", started " + left["started"].get<std::string>() +
                                " is no longer running"),
            std::string::npos)
      << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos);
  EXPECT_EQ(testing::read_file(run + "/.lock"), "");
}

TEST_F(TrainerRuns, AFullDiskStopsTheRunCleanlyAndTheRerunRepeatsTheStraightRun) {
  const std::string straight = tmp_ / "disk-straight";
  ASSERT_EQ(train(config("mdm"), straight).exit_code, 0);
  for (const bool async : {false, true}) {
    SCOPED_TRACE(async ? "checkpoint.async: true" : "checkpoint.async: false");
    const std::string cfg = config("mdm",
                                   {std::string("checkpoint.async=") + (async ? "true" : "false")});
    const std::string run = tmp_ / (async ? "disk-full-async" : "disk-full");
    // The checkpoint write of step 30 fails as on a full disk: stopped with the error, the
    // partial directory removed, step 20 still the latest and intact.
    const auto full = train(cfg, run, "CROSSOVER_FAULT=enospc@30");
    EXPECT_EQ(full.exit_code, 1) << full.output;
    const std::string partial = run + "/checkpoints/step_00000030.tmp";
    EXPECT_NE(full.output.find(partial + "/model.safetensors: write failed after "),
              std::string::npos)
        << full.output;
    EXPECT_NE(full.output.find("bytes: No space left on device"), std::string::npos) << full.output;
    EXPECT_NE(full.output.find("removed the partial " + partial), std::string::npos) << full.output;
    EXPECT_FALSE(fs::exists(partial));
    EXPECT_FALSE(fs::exists(run + "/checkpoints/step_00000030"));
    EXPECT_EQ(Checkpointer::find(run), run + "/checkpoints/step_00000020");
    EXPECT_EQ(Checkpointer::read_state(run + "/checkpoints/step_00000020")["step"], 20);
    const int64_t last = events(run, "train").back()["step"];
    if (async) {
      // Steps went on while the files were written; the failure stopped the run at the first
      // step whose agreement carried it (how many steps that takes depends on the machine's
      // load: a writer that fails at once stops step 31, whose train event is not logged, so
      // 30 is the last one), at the latest when the last checkpoint waits for it; nothing
      // committed since 20.
      EXPECT_GE(last, 30);
      EXPECT_LE(last, 40);
      EXPECT_NE(full.output.find("checkpoint at step 30 (written in the background) failed: " +
                                 partial + "/model.safetensors: write failed after "),
                std::string::npos)
          << full.output;
    } else {
      EXPECT_EQ(last, 30) << "nothing ran past the failed write";
    }
    const auto end = events(run, "end");
    ASSERT_EQ(end.size(), 1u);
    EXPECT_EQ(end[0]["status"], "failed");
    // With async, the failing step's train event is not logged: the failure surfaces in its
    // agreement, before the progress line.
    EXPECT_GE(end[0]["step"].get<int64_t>(), last);
    EXPECT_LE(end[0]["step"].get<int64_t>(), last + (async ? 1 : 0));
    EXPECT_NE(end[0]["reason"].get<std::string>().find("No space left on device"),
              std::string::npos);

    // Debris of writers that were killed (a full disk before this version cleaned up, or a
    // SIGKILL): removed, with a log line, before the rerun writes anything.
    fs::create_directories(run + "/checkpoints/step_00000035.tmp");
    testing::write_file(run + "/checkpoints/step_00000035.tmp/model.safetensors",
                        std::string(4096, 'x'));
    testing::write_file(run + "/checkpoints/latest.tmp", "step_000");

    // Space freed: the rerun resumes from step 20 and repeats the straight run bit for bit (on
    // the CPU; see above).
    const auto rerun = train(cfg, run);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
    EXPECT_NE(rerun.output.find("resumed from " + run + "/checkpoints/step_00000020"),
              std::string::npos)
        << rerun.output;
    for (const char* debris : {"step_00000035.tmp", "latest.tmp"}) {
      EXPECT_NE(rerun.output.find("removed " + run + "/checkpoints/" + debris +
                                  ": left by a checkpoint write that did not complete"),
                std::string::npos)
          << rerun.output;
      EXPECT_FALSE(fs::exists(run + "/checkpoints/" + debris));
    }
    const auto ta = events(straight, "train"), tb = events(run, "train");
    ASSERT_EQ(ta.size(), 40u);
    ASSERT_EQ(tb.size(), 40u);
    for (size_t i = 0; i < ta.size(); ++i) {
      EXPECT_EQ(tb[i]["step"], ta[i]["step"]);
      EXPECT_EQ(tb[i]["loss"].get<double>(), ta[i]["loss"].get<double>()) << "step " << i + 1;
      EXPECT_EQ(tb[i]["grad_norm"].get<double>(), ta[i]["grad_norm"].get<double>());
    }
    EXPECT_EQ(events(run, "eval").back()["val_loss"].get<double>(),
              events(straight, "eval").back()["val_loss"].get<double>());
    EXPECT_EQ(events(run, "end").back()["status"], "finished");
    EXPECT_EQ(Checkpointer::find(run), run + "/checkpoints/step_00000040");
  }
}

TEST_F(TrainerRuns, DivergenceSkipsThenStopsWithACheckpointAndAClearError) {
  const std::string run = tmp_ / "nan";
  const auto r = train(config("ar", {"optimizer.lr=1e30", "optimizer.min_lr=1e30",
                                     "optimizer.grad_clip=0", "training.max_bad_steps=2",
                                     "schedule.warmup_steps=0", "schedule.type=constant"}),
                       run);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("step skipped (1 in a row, at most 2)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("training diverged: 3 non-finite losses in a row"), std::string::npos);
  EXPECT_EQ(events(run, "end").back()["status"], "failed");
  EXPECT_NO_THROW(Checkpointer::read_state(Checkpointer::find(run)));
}

TEST_F(TrainerRuns, RunDirectoryHoldsConfigLogMetricsAndKeepsLastCheckpoints) {
  const std::string run = tmp_ / "layout";
  ASSERT_EQ(train(config("mdm", {"checkpoint.keep_last=2"}), run).exit_code, 0);
  EXPECT_TRUE(fs::exists(run + "/config.yaml"));
  EXPECT_NE(testing::read_file(run + "/train.log").find("finished at step 40"), std::string::npos);
  std::vector<std::string> kept;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints"))
    if (e.is_directory()) kept.push_back(e.path().filename().string());
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(kept, (std::vector<std::string>{"step_00000030", "step_00000040"}));
  for (const auto& e : read_metrics(run + "/metrics.jsonl"))
    if (e.contains("step"))
      for (const char* key : {"tokens", "unique_tokens", "epoch", "flops"})
        EXPECT_TRUE(e.contains(key)) << e.dump();
  const auto evals = events(run, "eval");
  ASSERT_FALSE(evals.empty());
  EXPECT_GT(evals.back()["val_loss_se"].get<double>(), 0.0);  // mdm: Monte-Carlo error
  // The checkpoint is readable without crossover.
  const auto py = run_command("/usr/bin/python3 " +
                              testing::source_path("scripts/analysis/read-safetensors.py") + " " +
                              run + "/checkpoints/step_00000040/model.safetensors");
  EXPECT_EQ(py.exit_code, 0) << py.output;
  EXPECT_NE(py.output.find("tok_embeddings float32 [321, 32]"), std::string::npos) << py.output;

  // The run directory alone is enough to load the model back (tokenizer copied into it).
  const LoadedModel m = load_model(run,
                                   LoadOptions{30, DeviceChoice::kCpu, PrecisionChoice::kFp32});
  EXPECT_EQ(m.step, 30);
  EXPECT_EQ(m.config.objective.type, ObjectiveType::kMdm);
  EXPECT_FALSE(m.objective->causal());
  EXPECT_EQ(m.mask_id(), 320);
  const safetensors::File f(run + "/checkpoints/step_00000030/model.safetensors");
  EXPECT_TRUE(at::equal(param_view(m.flats[1], m.model->layout().groups[1].find("attn.wq")),
                        f.tensor("blocks.0.attn.wq")));
  EXPECT_EQ(m.tokenizer->decode(m.tokenizer->encode("the lord said")), "the lord said");
}

}  // namespace
}  // namespace crossover
