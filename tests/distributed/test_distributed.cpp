// Data parallelism on the CPU: 2 processes over Gloo on 127.0.0.1, started by scripts/cluster/launch.sh
// the way torchrun starts them. ddp and fsdp must reproduce the 1-process run with the same
// global batch; sharded checkpoints must resume on the same or another world size.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <thread>

#include <ATen/ATen.h>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/comm/launch.h"
#include "crossover/util/metrics.h"
#include "crossover/util/safetensors.h"
#include "fixtures.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::TempDir;

class Distributed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = testing::make_data(*dir_);
  }
  static void TearDownTestSuite() { delete dir_; }

  std::string config(const std::vector<std::string>& sets) {
    RunConfig c = testing::tiny_config(data_, "mdm");
    c.data.total_tokens = TokenCount(20 * 8 * 32);  // 20 steps
    c.checkpoint.every = 5;
    c.eval.every = 10;
    for (const auto& s : sets) apply_override(c, s);
    const std::string path = tmp_ / ("c" + std::to_string(n_++) + ".yaml");
    testing::write_file(path, dump_config(c));
    return path;
  }
  testing::CommandResult launch(int n, const std::string& cfg, const std::string& run,
                                const std::string& env = "", const std::string& sets = "") {
    return run_command(env + " " + testing::source_path("scripts/cluster/launch.sh") + " -n " +
                       std::to_string(n) + " -- " + CROSSOVER_BINARY + " train " + cfg +
                       " --run-dir " + run + " --threads 1 " + sets);
  }
  static std::vector<double> losses(const std::string& run) {
    std::vector<double> out;
    for (auto& e : read_metrics(run + "/metrics.jsonl"))
      if (e["kind"] == "train") out.push_back(e["loss"].get<double>());
    return out;
  }
  static void expect_close(const std::vector<double>& a, const std::vector<double>& b, double rel,
                           const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_NEAR(a[i], b[i], rel * std::abs(b[i])) << what << " step " << i + 1;
  }

  static TempDir* dir_;
  static std::string data_;
  TempDir tmp_;
  int n_ = 0;
};
TempDir* Distributed::dir_ = nullptr;
std::string Distributed::data_;

TEST_F(Distributed, DdpAndFsdpOnTwoRanksMatchOneProcess) {
  const std::string one = tmp_ / "one";
  ASSERT_EQ(launch(1, config({}), one).exit_code, 0);
  const auto reference = losses(one);
  ASSERT_EQ(reference.size(), 20u);
  for (const std::string sharding : {"ddp", "fsdp"}) {
    const std::string run = tmp_ / sharding;
    const auto r = launch(2, config({"distributed.sharding=" + sharding}), run);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    expect_close(losses(run), reference, 1e-5, sharding);
    EXPECT_NE(r.output.find("process group: 2 ranks over gloo"), std::string::npos);
  }
}

// The ways a step can schedule its work (activations kept or recomputed, gradients reduced per
// micro-batch or once per step, reduce-scatters overlapping the backward) compute the same sums:
// the same losses as one process, with two micro-batches per rank.
TEST_F(Distributed, RecomputeAndGradientReductionChoicesGiveTheSameLosses) {
  const std::string one = tmp_ / "one";
  ASSERT_EQ(launch(1, config({"training.micro_batch=2"}), one).exit_code, 0);
  const auto reference = losses(one);
  ASSERT_EQ(reference.size(), 20u);
  const std::vector<std::vector<std::string>> variants = {
      {"distributed.sharding=fsdp", "distributed.recompute=full",
       "distributed.grad_reduce=micro_batch"},
      {"distributed.sharding=fsdp", "distributed.recompute=none",
       "distributed.grad_reduce=micro_batch"},
      {"distributed.sharding=fsdp", "distributed.recompute=full", "distributed.grad_reduce=step"},
      {"distributed.sharding=fsdp", "distributed.recompute=none", "distributed.grad_reduce=step"},
      {"distributed.sharding=ddp", "distributed.recompute=full"},
  };
  for (auto sets : variants) {
    std::string name;
    for (const auto& s : sets) name += s.substr(s.find('.') + 1) + " ";
    sets.push_back("training.micro_batch=2");
    const std::string run = tmp_ / ("v" + std::to_string(n_));
    const auto r = launch(2, config(sets), run);
    ASSERT_EQ(r.exit_code, 0) << name << r.output;
    expect_close(losses(run), reference, 1e-5, name);
  }
}

// Dropout masks are keyed by step and global row: ddp and fsdp on 2 ranks, blocks recomputed in
// backward or kept, reproduce the 1-process run with dropout; and dropout changes the run.
TEST_F(Distributed, DropoutMasksDoNotDependOnTheLayoutOrOnRecompute) {
  const std::string plain = tmp_ / "plain";
  ASSERT_EQ(launch(1, config({"training.micro_batch=2"}), plain).exit_code, 0);
  const std::string one = tmp_ / "one";
  const auto r1 = launch(1, config({"training.micro_batch=2", "model.dropout=0.1"}), one);
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  const auto reference = losses(one);
  ASSERT_EQ(reference.size(), 20u);
  EXPECT_GT(std::abs(reference.back() - losses(plain).back()), 1e-3);
  const std::vector<std::vector<std::string>> variants = {
      {"distributed.sharding=fsdp", "distributed.recompute=full"},
      {"distributed.sharding=fsdp", "distributed.recompute=none"},
      {"distributed.sharding=ddp", "distributed.recompute=full"},
  };
  for (auto sets : variants) {
    const std::string name = sets[0] + " " + sets[1];
    sets.push_back("training.micro_batch=2");
    sets.push_back("model.dropout=0.1");
    const std::string run = tmp_ / ("d" + std::to_string(n_));
    const auto r = launch(2, config(sets), run);
    ASSERT_EQ(r.exit_code, 0) << name << r.output;
    expect_close(losses(run), reference, 1e-5, name);
  }
}

// bf16 gradient reduction rounds each rank's contribution: close to the fp32 run, not equal.
TEST_F(Distributed, Bf16GradientReductionStaysCloseToFp32) {
  const std::string one = tmp_ / "one";
  ASSERT_EQ(launch(1, config({}), one).exit_code, 0);
  const auto reference = losses(one);
  for (const std::string sharding : {"ddp", "fsdp"}) {
    const std::string run = tmp_ / ("bf16-" + sharding);
    const auto r = launch(
        2, config({"distributed.sharding=" + sharding, "distributed.reduce_dtype=bf16"}), run);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    expect_close(losses(run), reference, 2e-2, sharding + " reduce_dtype bf16");
  }
}

// Every train event carries the time of a step by phase; the phases add up to the step time,
// and a 2-rank fsdp run shows the communication it waited for.
TEST_F(Distributed, TheStepTimeBreakdownAddsUpAndShowsExposedCommunication) {
  const std::string run = tmp_ / "breakdown";
  const auto r = launch(2, config({"distributed.sharding=fsdp"}), run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, double> totals;
  int events = 0;
  for (auto& e : read_metrics(run + "/metrics.jsonl")) {
    if (e["kind"] != "train") continue;
    ++events;
    const auto& t = e.at("time");
    double sum = 0;
    for (const char* p :
         {"data", "forward", "backward", "comm", "optimizer", "eval", "checkpoint", "other"}) {
      const double v = t.at(std::string(p) + "_s").get<double>();
      EXPECT_GE(v, 0) << p;
      sum += v;
      totals[p] += v;
    }
    EXPECT_NEAR(sum, t.at("step_s").get<double>(), 1e-9 * t.at("step_s").get<double>());
  }
  EXPECT_EQ(events, 20);
  for (const char* p : {"data", "forward", "backward", "comm", "optimizer", "eval", "checkpoint"})
    EXPECT_GT(totals[p], 0) << p << " never timed";
  // The progress line summarises it.
  EXPECT_NE(r.output.find(" s/step (data "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" comm "), std::string::npos) << r.output;
}

TEST_F(Distributed, FsdpKeepsHalfTheOptimizerStateOnEachRank) {
  const std::string run = tmp_ / "half";
  const auto r = launch(2, config({"distributed.sharding=fsdp"}), run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string ckpt = Checkpointer::find(run);
  const auto state = Checkpointer::read_state(ckpt);
  int64_t total = 0;
  for (const auto& g : state["checkpoint_format"]["groups"]) total += g["numel"].get<int64_t>();
  for (int rank = 0; rank < 2; ++rank) {
    const safetensors::File f(ckpt + "/optimizer.rank0000" + std::to_string(rank) +
                              "-of-00002.safetensors");
    int64_t held = 0;
    for (const auto& name : f.names()) {
      int64_t n = 1;
      for (int64_t s : f.entry(name).shape) n *= s;
      held += n;
    }
    // Two moments of about half the parameters (padding adds at most one element per group).
    EXPECT_NEAR(static_cast<double>(held), static_cast<double>(total), 64.0) << "rank " << rank;
  }
  // The log reports it per rank too.
  EXPECT_NE(r.output.find("memory on this rank:"), std::string::npos);
}

TEST_F(Distributed, ShardedCheckpointResumesOnTwoRanksIdentically) {
  const std::string cfg = config({"distributed.sharding=fsdp"});
  const std::string straight = tmp_ / "straight", killed = tmp_ / "killed";
  ASSERT_EQ(launch(2, cfg, straight).exit_code, 0);
  EXPECT_NE(launch(2, cfg, killed, "CROSSOVER_FAULT=step@13").exit_code, 0);
  // Step 10's checkpoint, or step 5's when the ranks had not yet agreed that every part of step
  // 10's background write was on disk.
  const std::string latest = Checkpointer::find(killed);
  EXPECT_TRUE(latest == killed + "/checkpoints/step_00000010" ||
              latest == killed + "/checkpoints/step_00000005")
      << latest;
  const auto r = launch(2, cfg, killed);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = losses(straight), b = losses(killed);
  ASSERT_EQ(a.size(), 20u);
  ASSERT_EQ(b.size(), 20u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
}

TEST_F(Distributed, ConsolidatedCheckpointResumesInOneProcess) {
  const std::string cfg = config({"distributed.sharding=fsdp"});
  const std::string two = tmp_ / "two", killed = tmp_ / "two-killed", merged = tmp_ / "merged";
  ASSERT_EQ(launch(2, cfg, two).exit_code, 0);
  EXPECT_NE(launch(2, cfg, killed, "CROSSOVER_FAULT=step@12").exit_code, 0);
  const auto c = run_command(std::string(CROSSOVER_BINARY) + " checkpoint consolidate " + killed +
                             " --out " + merged);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const std::string latest = fs::path(Checkpointer::find(killed)).filename().string();
  EXPECT_TRUE(fs::exists(merged + "/checkpoints/" + latest + "/model.safetensors"));
  // One process, no sharding: the world size changed, the run did not.
  const auto r = run_command(std::string(CROSSOVER_BINARY) + " train " + merged +
                             " --threads 1 --set distributed.sharding=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_close(losses(merged), losses(two), 1e-5, "consolidated");
  // And a sharded checkpoint also resumes directly on another world size.
  const auto direct = launch(1, cfg, killed, "", "--set distributed.sharding=none");
  ASSERT_EQ(direct.exit_code, 0) << direct.output;
  expect_close(losses(killed), losses(two), 1e-5, "resharded");
}

TEST_F(Distributed, ADeadRankEndsTheRunWithAnErrorNotAHang) {
  const std::string cfg = config({"distributed.sharding=fsdp", "distributed.timeout_s=30",
                                  "data.total_tokens=256000", "checkpoint.async=false"});
  const std::string run = tmp_ / "dead";
  const int port = testing::free_port();
  std::vector<pid_t> pids;
  for (int rank = 0; rank < 2; ++rank) {
    const pid_t pid = fork();
    if (pid == 0) {
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", "2", 1);
      setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      if (rank == 1) setenv("CROSSOVER_FAULT", "step@7", 1);  // rank 1 dies mid-run
      const std::string log = run + ".rank" + std::to_string(rank) + ".log";
      freopen(log.c_str(), "w", stderr);
      execl(CROSSOVER_BINARY, CROSSOVER_BINARY, "train", cfg.c_str(), "--run-dir", run.c_str(),
            "--threads", "1", static_cast<char*>(nullptr));
      _exit(127);
    }
    pids.push_back(pid);
  }
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  waitpid(pids[1], &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // Rank 0 must notice and fail, well before the end of the run or a hang.
  pid_t done = 0;
  while ((done = waitpid(pids[0], &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(90))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (done == 0) {
    kill(pids[0], SIGKILL);
    waitpid(pids[0], &status, 0);
    FAIL() << "rank 0 still running 90 s after rank 1 died";
  }
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kPeerLostExitCode);  // "a peer is gone", not crossover's own error
  const std::string log = testing::read_file(run + ".rank0.log");
  // One line names the collective and the rank that went away; no stack trace.
  EXPECT_NE(log.find("rank 0 (127.0.0.1): collective "), std::string::npos) << log;
  EXPECT_NE(log.find("rank 1 at 127.0.0.1 went away"), std::string::npos) << log;
  EXPECT_EQ(log.find("frame #"), std::string::npos) << log;
  // The rank's death left a checkpoint that verifies, and `checkpoint verify` says so.
  const auto verified = testing::run_crossover("checkpoint verify " + run);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("complete"), std::string::npos) << verified.output;
}

// Starts `crossover train` as rank `rank` of `world` in a child process (stderr to run.rankN.log).
pid_t start_rank(int rank, int world, int port, const std::string& cfg, const std::string& run,
                 const char* fault = nullptr) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (fault) setenv("CROSSOVER_FAULT", fault, 1);
    setenv("RANK", std::to_string(rank).c_str(), 1);
    setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
    setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    const std::string log = run + ".rank" + std::to_string(rank) + ".log";
    freopen(log.c_str(), "w", stderr);
    freopen("/dev/null", "w", stdout);
    execl(CROSSOVER_BINARY, CROSSOVER_BINARY, "train", cfg.c_str(), "--run-dir", run.c_str(),
          "--threads", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Waits up to `seconds` for the process; -1 if it is still running then (and is killed).
int wait_exit_code(pid_t pid, int seconds) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(seconds)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(Distributed, ASignalToOneRankStopsEveryRankAtTheSameCheckpoint) {
  // 40 steps with a checkpoint every 20: the resumed run passes through periodic checkpoints.
  const std::string cfg = config({"distributed.sharding=fsdp", "data.total_tokens=10240",
                                  "checkpoint.every=20", "eval.every=0",
                                  "distributed.timeout_s=60"});
  const std::string straight = tmp_ / "straight", run = tmp_ / "signalled";
  ASSERT_EQ(launch(2, cfg, straight).exit_code, 0);
  const auto reference = losses(straight);
  ASSERT_EQ(reference.size(), 40u);

  const int port = testing::free_port();
  // Only rank 1 is told to stop (as SLURM may, one task first), after step 5: it sends itself
  // SIGTERM there (CROSSOVER_FAULT=sigterm@5), so a slow machine cannot let the run finish first.
  const pid_t rank0 = start_rank(0, 2, port, cfg, run),
              rank1 = start_rank(1, 2, port, cfg, run, "sigterm@5");
  EXPECT_EQ(wait_exit_code(rank1, 90), 143) << testing::read_file(run + ".rank1.log");
  EXPECT_EQ(wait_exit_code(rank0, 90), 143) << testing::read_file(run + ".rank0.log");

  // One complete checkpoint at the step where both stopped, and nothing half-written.
  const std::string ckpt = Checkpointer::find(run);
  const auto state = Checkpointer::read_state(ckpt);
  const int64_t stopped = state["step"].get<int64_t>();
  // Step 6's agreement carries rank 1's signal to rank 0; both checkpoint there.
  EXPECT_EQ(stopped, 6);
  EXPECT_EQ(fs::path(ckpt).filename().string(),
            "step_" + std::string(8 - std::to_string(stopped).size(), '0') +
                std::to_string(stopped));
  for (const auto& e : fs::directory_iterator(run + "/checkpoints"))
    EXPECT_EQ(e.path().extension(), "") << "left behind: " << e.path();
  EXPECT_EQ(losses(run).size(), static_cast<size_t>(stopped));
  const std::string log0 = testing::read_file(run + ".rank0.log");
  EXPECT_NE(log0.find("signal 15 received: checkpointing at step " + std::to_string(stopped)),
            std::string::npos)
      << log0;

  // Resuming reproduces the straight run bit for bit: on the CPU (same machine, same kernels).
  // GPU kernels are not bitwise deterministic; there a resume is compared with a tolerance.
  const auto resumed = launch(2, cfg, run);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const auto after = losses(run);
  ASSERT_EQ(after.size(), reference.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i], reference[i]) << "step " << i + 1;
}

TEST_F(Distributed, AProcessGroupAtWorldSizeOneGivesTheSameLosses) {
  const std::string plain = tmp_ / "plain";
  ASSERT_EQ(launch(1, config({}), plain).exit_code, 0);
  const auto reference = losses(plain);
  ASSERT_EQ(reference.size(), 20u);
  for (const std::string sharding : {"ddp", "fsdp"}) {
    const std::string run = tmp_ / ("pg1-" + sharding);
    const auto r = launch(
        1, config({"distributed.sharding=" + sharding, "distributed.process_group=always"}), run);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("process group: 1 ranks over gloo on cpu"), std::string::npos)
        << r.output;
    expect_close(losses(run), reference, 1e-5, sharding + " at world size 1");
  }
}

TEST(C10dComm, RefusesATensorOnAnotherDeviceNamingTheCollectiveAndBothDevices) {
  DistEnv env;  // world size 1, rank 0 serves the store
  env.master_port = testing::free_port();
  DistributedConfig dc;
  dc.process_group = ProcessGroupMode::kAlways;
  dc.timeout_s = 30;
  auto comm = init_distributed(env, dc, at::kCPU);
  ASSERT_EQ(comm->backend(), "gloo");
  EXPECT_EQ(comm->device(), at::Device(at::kCPU));

  // Gloo here takes host memory; a tensor elsewhere (a meta tensor stands in for a GPU one on a
  // machine without GPUs) is refused before it reaches the process group.
  const auto on_meta = at::TensorOptions().dtype(at::kFloat).device(at::kMeta);
  auto expect_refused = [](const std::function<void()>& call, const std::string& collective) {
    try {
      call();
      ADD_FAILURE() << collective << " accepted a meta tensor";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("collective " + collective), std::string::npos) << what;
      EXPECT_NE(what.find("tensor on meta"), std::string::npos) << what;
      EXPECT_NE(what.find("gloo process group takes tensors on cpu"), std::string::npos) << what;
    }
  };
  at::Tensor meta = at::zeros({4}, on_meta), host = at::ones({4});
  expect_refused([&] { comm->all_reduce_sum(meta); }, "all_reduce");
  expect_refused([&] { comm->broadcast(meta, 0); }, "broadcast");
  expect_refused([&] { comm->all_gather(host, meta); }, "all_gather");
  expect_refused([&] { comm->reduce_scatter_sum(meta, host); }, "reduce_scatter");

  // The right device works, and the host-scalar helper goes through the same collective.
  comm->all_reduce_sum(host);
  EXPECT_EQ(host.sum().item<float>(), 4.0f);
  EXPECT_EQ(comm->all_reduce_sum(std::vector<double>{1.5, -2.0}), (std::vector<double>{1.5, -2.0}));
}

TEST(C10dComm, ABackendThatCannotHoldTheComputeDeviceIsAConfigError) {
  DistEnv env;
  DistributedConfig dc;
  dc.process_group = ProcessGroupMode::kAlways;
  dc.backend = CommBackend::kNccl;
  try {
    init_distributed(env, dc, at::kCPU);
    FAIL() << "nccl accepted a CPU run";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("distributed.backend: nccl needs CUDA tensors"),
              std::string::npos);
  }
}

TEST(DistEnv, ReadsTorchrunAndSlurmVariables) {
  EXPECT_EQ(first_slurm_host("gpu[03-05,9],cpu1"), "gpu03");
  EXPECT_EQ(first_slurm_host("node7"), "node7");
  EXPECT_EQ(first_slurm_host("a1,b[2-3]"), "a1");
  EXPECT_EQ(first_slurm_host("rack[1-2]-gpu[001-004]"), "rack1-gpu001");
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                        "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_JOB_NODELIST"})
    unsetenv(v);
  EXPECT_EQ(read_dist_env().world_size, 1);
  setenv("SLURM_NTASKS", "16", 1);
  setenv("SLURM_PROCID", "9", 1);
  setenv("SLURM_LOCALID", "1", 1);
  setenv("SLURM_JOB_NODELIST", "h100-[07-08]", 1);
  DistEnv s = read_dist_env();
  EXPECT_EQ(s.source, "slurm");
  EXPECT_EQ(s.rank, 9);
  EXPECT_EQ(s.world_size, 16);
  EXPECT_EQ(s.local_rank, 1);
  EXPECT_EQ(s.master_addr, "h100-07");
  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "3", 1);
  setenv("LOCAL_RANK", "3", 1);
  setenv("MASTER_ADDR", "10.0.0.1", 1);
  setenv("MASTER_PORT", "1234", 1);
  const DistEnv t = read_dist_env();
  EXPECT_EQ(t.source, "torchrun");
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.master_port, 1234);
  setenv("RANK", "4", 1);
  EXPECT_THROW(read_dist_env(), std::runtime_error);
  setenv("RANK", "x", 1);
  EXPECT_THROW(read_dist_env(), std::runtime_error);
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                        "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_JOB_NODELIST"})
    unsetenv(v);
}

}  // namespace
}  // namespace crossover
