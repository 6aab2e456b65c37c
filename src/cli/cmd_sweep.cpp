// crossover sweep plan | run | status | slurm | report: grids of runs at a fixed total-token
// budget and the crossover report (include/crossover/sweep/).
#include <CLI/CLI.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "crossover/analysis/report.h"
#include "crossover/cli/app.h"
#include "crossover/model/memory.h"
#include "crossover/model/peak.h"
#include "crossover/sweep/cost.h"
#include "crossover/sweep/manifest.h"
#include "crossover/sweep/plan.h"
#include "crossover/sweep/process.h"
#include "crossover/sweep/run_state.h"
#include "crossover/sweep/runner.h"
#include "crossover/sweep/slurm.h"
#include "crossover/util/fs.h"
#include "crossover/util/run_lock.h"

namespace crossover::cli {

namespace fs = std::filesystem;

namespace {

std::string this_binary() { return fs::read_symlink("/proc/self/exe").string(); }

std::string or_unknown(double v, const std::string& text) { return std::isfinite(v) ? text : "?"; }

// Each point's step memory on one of `gpus` ranks (model/memory.h); none without a vocabulary.
std::vector<std::optional<StepMemory>> plan_memory(const SweepPlan& plan, int64_t gpus) {
  std::vector<std::optional<StepMemory>> out;
  for (const auto& p : plan.points)
    out.push_back(plan.vocab_size ? std::optional(step_memory(p.config, *plan.vocab_size, gpus))
                                  : std::nullopt);
  return out;
}

// The line under the table: the largest point's memory against the GPU's.
void print_memory_line(const SweepPlan& plan, const std::vector<std::optional<StepMemory>>& mem,
                       int64_t gpus, const std::string& gpu) {
  int worst = -1;
  for (size_t i = 0; i < mem.size(); ++i)
    if (mem[i] && (worst < 0 || mem[i]->total() > mem[worst]->total())) worst = static_cast<int>(i);
  if (worst < 0) {
    std::printf("memory per GPU: unknown without the vocabulary (prepare the data or pass "
                "--vocab)\n");
    return;
  }
  const StepMemory& m = *mem[worst];
  const auto& c = plan.points[worst].config;
  const double device_gb = known_memory_gb(gpu);
  std::printf("memory per GPU on %lld GPUs per point, at most %.1f GB (%s: %s, recompute %s; "
              "optimizer state %.1f, parameter copies %.1f, activations %.1f, backward %.1f, "
              "loss head %.1f)%s; model/memory.h counts tensors only: leave 20%% for the CUDA "
              "context, workspaces and fragmentation\n",
              static_cast<long long>(gpus), m.total() / 1e9, plan.points[worst].name.c_str(),
              to_string(c.distributed.sharding).c_str(), m.recompute ? "full" : "none",
              m.optimizer_state / 1e9, m.parameter_copies / 1e9, m.activations / 1e9,
              m.backward_workspace / 1e9, m.loss_head / 1e9,
              device_gb > 0 ? (": " + describe_fit(m, device_gb) + " on one " + gpu).c_str() : "");
}

void print_plan(const SweepPlan& plan, const PlanWriteResult& written, const std::string& dir,
                const ClusterAssumption& cluster, int64_t gpus) {
  const SweepCost cost = sweep_cost(plan, cluster);
  const auto memory = plan_memory(plan, gpus);
  std::printf("%-28s %-4s %8s %8s %10s %8s %10s %9s %7s  %s\n", "point", "obj", "unique", "epochs",
              "steps", "eval", "FLOPs", "GPU-h", "GB/GPU", "");
  for (size_t i = 0; i < plan.points.size(); ++i) {
    const auto& p = plan.points[i];
    const bool kept = std::find(written.kept.begin(), written.kept.end(), p.name) !=
                      written.kept.end();
    std::printf("%-28s %-4s %8s %8s %10lld %8lld %10s %9s %7s  %s\n", p.name.c_str(),
                to_string(p.config.objective.type).c_str(),
                p.unique_tokens >= 0 ? compact_tokens(p.unique_tokens).c_str() : "all",
                or_unknown(p.epochs, fmt::format("{:.1f}", p.epochs)).c_str(),
                static_cast<long long>(p.steps), static_cast<long long>(p.config.eval.every),
                p.flops ? fmt::format("{:.3g}", *p.flops).c_str() : "?",
                cost.gpu_hours[i] ? fmt::format("{:.1f}", *cost.gpu_hours[i]).c_str() : "?",
                memory[i] ? fmt::format("{:.1f}", memory[i]->total() / 1e9).c_str() : "?",
                kept ? "(kept)" : "");
  }
  std::printf("cluster time: %.1f GPU-hours of training at %.1f%% MFU (%s) on %s (%.0f TFLOP/s "
              "dense bf16)%s; evaluation and checkpoints come on top\n",
              cost.total_gpu_hours, 100 * cluster.mfu, cluster.mfu_source.c_str(),
              cluster.gpu.c_str(), cost.peak_tflops,
              cost.unknown
                  ? fmt::format(", {} point(s) of unknown FLOPs not counted", cost.unknown).c_str()
                  : "");
  print_memory_line(plan, memory, gpus, cluster.gpu);
  if (!plan.data_note.empty()) std::printf("note: %s\n", plan.data_note.c_str());
  std::printf("%zu points: %zu new, %zu already planned, in %s\n", plan.points.size(),
              written.created.size(), written.kept.size(), dir.c_str());
  std::printf("next: crossover sweep run %s --parallel N   (or: crossover sweep slurm %s)\n",
              dir.c_str(), dir.c_str());
}

void add_plan(CLI::App& sweep) {
  struct Options {
    std::string file, out, mfu_from;
    ClusterAssumption cluster;
    int64_t gpus = 8;
    std::optional<int64_t> vocab;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = sweep.add_subcommand(
      "plan", "Resolve every point of a sweep file into DIR/runs/<point>/config.yaml and "
              "DIR/manifest.json; an existing DIR only gains missing points. Prints each point's "
              "and the sweep's GPU-hours at a stated MFU");
  cmd->add_option("sweep", o->file, "sweep file (YAML)")->required();
  cmd->add_option("--out", o->out, "sweep directory")->required();
  cmd->add_option("--gpu", o->cluster.gpu, "GPU whose dense bf16 peak the GPU-hours assume")
      ->capture_default_str();
  auto* mfu = cmd->add_option("--mfu", o->cluster.mfu,
                              "model FLOPs utilisation the GPU-hours assume")
                  ->capture_default_str();
  cmd->add_option("--mfu-from", o->mfu_from,
                  "the saved output of `crossover bench train` on the GPU: its lowest MFU")
      ->excludes(mfu);
  cmd->add_option("--gpus", o->gpus, "GPUs per point (ranks) the memory per GPU assumes")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--vocab", o->vocab,
                  "vocabulary for FLOPs and memory while the data is not prepared (meta.json "
                  "wins when it exists)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 31));
  cmd->callback([o] {
    if (!o->mfu_from.empty())
      std::tie(o->cluster.mfu, o->cluster.mfu_source) = measured_mfu(o->mfu_from);
    const SweepPlan plan = plan_sweep(load_sweep(o->file), "", o->vocab);
    sweep_cost(plan, o->cluster);  // a bad --gpu or --mfu stops before anything is written
    const auto written = write_plan(plan, o->out);
    print_plan(plan, written, o->out, o->cluster, o->gpus);
  });
}

void add_run(CLI::App& sweep) {
  struct Options {
    std::string dir, binary;
    RunnerOptions runner;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = sweep.add_subcommand(
      "run", "Run the points of a planned sweep locally: finished ones are skipped, partial ones "
             "resume; Ctrl-C stops every run at a checkpoint");
  cmd->add_option("dir", o->dir, "sweep directory (from sweep plan)")->required();
  cmd->add_option("--parallel,-j", o->runner.parallel, "points run at the same time")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--threads-per-run", o->runner.threads_per_run,
                  "CPU threads per run (default: the config's hardware.threads, else cores / "
                  "parallel)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--only", o->runner.only, "run only these points (names from the manifest)");
  cmd->add_option("--progress-every", o->runner.progress_every_s,
                  "seconds between progress lines (0: only start and end lines)");
  cmd->add_option("--binary", o->binary,
                  "crossover executable that trains the points (default: this one)")
      ->check(CLI::ExistingFile);
  cmd->callback([o] {
    const Manifest m = read_manifest(o->dir);
    std::atomic<bool> stop{false};
    RunnerResult r;
    {
      SignalForwarder forward(stop);  // before the runner's threads: they inherit the mask
      RunnerOptions options = o->runner;
      options.stop = &stop;
      r = run_sweep(m, options, process_launcher(o->binary.empty() ? this_binary() : o->binary));
    }
    spdlog::info("sweep: {} finished now, {} finished before, {} failed, {} stopped, {} not "
                 "started, {} trained elsewhere",
                 r.finished.size(), r.already_finished.size(), r.failed.size(),
                 r.interrupted.size(), r.not_started.size(), r.busy.size());
    if (stop)
      throw std::runtime_error("sweep run: interrupted; run it again to resume the stopped "
                               "points and start the others");
    if (!r.failed.empty()) {
      std::string names;
      for (const auto& n : r.failed) names += (names.empty() ? "" : ", ") + n;
      throw std::runtime_error("sweep run: " + std::to_string(r.failed.size()) +
                               " point(s) failed: " + names +
                               " (their output: RUN_DIR/console.log and train.log)");
    }
    if (!r.busy.empty()) {
      std::string names;
      for (const auto& n : r.busy) names += (names.empty() ? "" : ", ") + n;
      throw std::runtime_error("sweep run: " + std::to_string(r.busy.size()) +
                               " point(s) are being trained by another process: " + names +
                               " (RUN_DIR/.lock names it); run the sweep again once they are done");
    }
  });
}

void add_status(CLI::App& sweep) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = sweep.add_subcommand("status", "Print the state of every point of a sweep");
  cmd->add_option("dir", *dir, "sweep directory")->required();
  cmd->callback([dir] {
    const Manifest m = read_manifest(*dir);
    std::printf("%-28s %-12s %12s %8s %10s\n", "point", "status", "step", "epoch", "loss");
    for (const auto& p : m.points) {
      const RunState s = read_run_state(p.run_dir);
      const std::string step = fmt::format("{}/{}", s.step,
                                           s.total_steps > 0 ? s.total_steps : p.steps);
      // A held run lock tells a running point from one killed mid-run (both are `partial`).
      const bool running = RunLock::holder(p.run_dir).has_value();
      std::printf("%-28s %-12s %12s %8.2f %10s\n", p.name.c_str(),
                  running ? "running" : to_string(s.status), step.c_str(), s.epoch,
                  std::isfinite(s.last_loss) ? fmt::format("{:.4f}", s.last_loss).c_str() : "-");
    }
  });
}

void add_slurm(CLI::App& sweep) {
  struct Options {
    std::string dir;
    SlurmOptions slurm;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = sweep.add_subcommand(
      "slurm", "Write DIR/sweep.sbatch: a requeue-safe SLURM array job, one task per point");
  cmd->add_option("dir", o->dir, "sweep directory")->required();
  cmd->add_option("--partition,-p", o->slurm.partition, "SLURM partition");
  cmd->add_option("--account,-A", o->slurm.account, "SLURM account");
  cmd->add_option("--qos", o->slurm.qos, "SLURM quality of service");
  cmd->add_option("--time,-t", o->slurm.time, "time limit per task (the task requeues itself)");
  cmd->add_option("--nodes,-N", o->slurm.nodes, "nodes per point")->check(CLI::Range(1, 4096));
  cmd->add_option("--gpus-per-node", o->slurm.gpus_per_node,
                  "GPUs per node, one trainer process each (0: a CPU run)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--cpus-per-task", o->slurm.cpus_per_task, "CPUs per trainer process")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--mem", o->slurm.mem, "memory per node, e.g. 400G");
  cmd->add_option("--max-running", o->slurm.max_running, "points running at once (array %N)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--signal-seconds", o->slurm.signal_seconds,
                  "SIGTERM this many seconds before the time limit, to checkpoint")
      ->check(CLI::Range(10, 3600));
  cmd->add_option("--setup", o->slurm.setup,
                  "shell line run before training, e.g. 'module load cuda' (repeatable)");
  cmd->add_option("--sbatch", o->slurm.sbatch,
                  "extra sbatch option, e.g. --sbatch=--constraint=h100 (repeatable)");
  cmd->add_flag("--include-finished", o->slurm.include_finished,
                "list finished points in the array too");
  cmd->add_option("--binary", o->slurm.binary,
                  "crossover executable on the cluster (default: this one)");
  cmd->callback([o] {
    const Manifest m = read_manifest(o->dir);
    SlurmOptions options = o->slurm;
    if (options.binary.empty()) options.binary = this_binary();
    const std::string script = slurm_script(m, options);
    fs::create_directories(fs::path(m.dir) / "slurm");  // sbatch does not create --output dirs
    const std::string path = (fs::path(m.dir) / "sweep.sbatch").string();
    atomic_write_file(path, script);
    fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
    std::printf("wrote %s\nsubmit with:\n  sbatch %s\n", path.c_str(), path.c_str());
  });
}

void add_report(CLI::App& sweep) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = sweep.add_subcommand(
      "report", "Write DIR/report/: summary.csv, curves.csv, crossovers.csv and summary.md "
                "(where MDM overtakes AR, R* per objective)");
  cmd->add_option("dir", *dir, "sweep directory")->required();
  cmd->callback([dir] {
    const ReportFiles files = write_report(*dir);
    std::fputs(files.headline.c_str(), stdout);
    for (const auto& p : files.paths) std::printf("wrote %s\n", p.c_str());
    std::printf("figures: /usr/bin/python3 scripts/analysis/plot-sweep.py %s\n", dir->c_str());
  });
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto* sweep = app.add_subcommand(
      "sweep", "Grids of runs at a fixed total-token budget and the AR/MDM crossover report");
  sweep->require_subcommand(1);
  add_plan(*sweep);
  add_run(*sweep);
  add_status(*sweep);
  add_slurm(*sweep);
  add_report(*sweep);
}

}  // namespace crossover::cli
