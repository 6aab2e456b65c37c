// `crossover train`: trains until the total-token budget, resuming from RUN_DIR's latest
// checkpoint when there is one. See README "Training" for what it prints and writes.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <optional>

#include "crossover/checkpoint/background_checkpoints.h"
#include "crossover/checkpoint/checkpointer.h"
#include "crossover/comm/comm.h"
#include "crossover/config/config.h"
#include "crossover/data/batch_prefetcher.h"
#include "crossover/data/sampler.h"
#include "crossover/data/token_store.h"
#include "crossover/distributed/sharding.h"
#include "crossover/eval/eval_schedule.h"
#include "crossover/eval/multiple_choice.h"
#include "crossover/model/flops.h"
#include "crossover/model/transformer.h"
#include "crossover/objective/objective.h"
#include "crossover/train/train_step.h"
#include "crossover/util/metrics.h"
#include "crossover/util/phase_timer.h"
#include "crossover/util/tensorboard.h"

namespace crossover {

struct TrainResult {
  std::string status;  // finished | interrupted
  int64_t step = 0;
  double train_loss = 0;           // last logged
  std::optional<double> val_loss;  // last evaluated by this process; none before its first eval
  double tokens_per_s = 0;
  double seconds = 0;
  int exit_code = 0;  // 0, or 128 + signal when interrupted
};

// One training run, start to end. run() reads as the run goes: set up the hardware, open the data
// (sampler, validation windows, tasks), build the model, its sharding and the objective, resume
// from the latest checkpoint or initialise, open the outputs (metrics.jsonl, TensorBoard), then
// loop: train_step (train/train_step.h, the step `bench train` and the tests run too), progress
// line and `train` event every logging.log_every steps, evaluation and checkpoints at their
// cadence, and at the end (or on a signal) a last checkpoint and an `end` event.
class Trainer {
 public:
  Trainer(const RunConfig& config, std::string run_dir, Comm& comm, at::Device device);
  ~Trainer();
  // Once per Trainer.
  TrainResult run();

 private:
  void set_up_hardware();
  void open_data();
  void build_model();
  void log_setup() const;
  bool resume_or_init();  // true: the checkpoint already finished the run
  void open_outputs();
  TrainResult loop();
  StepResult train_step();  // the next batch through crossover::train_step; advances step_
  void stop_if_diverged(const StepResult& r);  // a skipped non-finite step; throws past the limit
  void count_step(const StepResult& r);        // into the progress window
  void log_progress(const StepResult& r);      // every logging.log_every steps: the line and event
  void evaluate(int64_t step);
  // A checkpoint at `step`: in the background (checkpoint.async, `background`) or written
  // before it returns; either way after the checkpoint in flight is committed.
  void save(int64_t step, bool background = false);
  TrainState checkpoint_state(int64_t step) const;
  // After each step's agreement: lets a background checkpoint commit, raises its writer's error,
  // and logs the checkpoints committed since.
  void follow_background_checkpoint(const StepResult& r);
  void report_committed();
  TrainResult finish(int stop_signal, double last_loss);
  // metrics.jsonl (and TensorBoard for train and eval) on rank 0, with the run's axes at `step`.
  void emit(const std::string& kind, int64_t step, const nlohmann::json& fields);
  nlohmann::json axes(int64_t step) const;
  double epoch(int64_t step) const;

  // The run-directory lock and the SIGINT/SIGTERM handlers, held while run() works and
  // released only after every member below (writers, checkpointer, sharding) is gone.
  struct Guards;
  std::unique_ptr<Guards> guards_;

  const RunConfig config_;
  const std::string run_dir_;
  Comm& comm_;
  const at::Device device_;
  const bool rank0_;
  const std::chrono::steady_clock::time_point start_;
  at::ScalarType dtype_ = at::kFloat;
  int threads_ = 1;
  int cpu_workers_ = 1;  // batch workers of the CPU step (hardware.cpu_workers)

  int64_t vocab_ = 0, micro_ = 0, total_steps_ = 0;
  EvalSchedule eval_schedule_;  // eval.every and eval.log_points over total_steps_
  std::unique_ptr<TokenStore> train_store_;
  std::unique_ptr<RepeatSampler> sampler_;
  at::Tensor val_windows_;
  std::vector<int64_t> val_index_;  // window number of each row of val_windows_ (data/sampler.h)
  TaskSuite tasks_;
  ScoreOptions task_scoring_;

  std::unique_ptr<Transformer> model_;
  ParamCount params_;
  std::unique_ptr<Sharding> sharding_;
  std::unique_ptr<Objective> objective_;
  double flops_per_token_ = 0, peak_flops_ = 0;

  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<BackgroundCheckpoints> background_;  // checkpoint.async; after checkpointer_
  MetricsWriter metrics_;
  MetricsWriter eval_detail_;  // RUN_DIR/eval_detail.jsonl (eval/eval_detail.h)
  TensorBoardWriter tensorboard_;
  int64_t step_ = 0, start_step_ = 0, bad_steps_ = 0;
  std::optional<int64_t> resumed_from_;
  std::unique_ptr<PhaseTimer> timer_;            // the steps' time breakdown, from the loop's start
  std::unique_ptr<BatchPrefetcher> prefetcher_;  // reads sampler_'s coming steps; goes first
  struct {
    double flops = 0, total_seconds = 0;
    int64_t tokens = 0, steps = 0;
  } window_;  // since the last progress line (total_seconds: since the loop started)
  TrainResult result_;
};

// Trains `config` in `run_dir` on the ranks of `comm` (Trainer(...).run()). Throws on errors (after writing an
// `end` event with status failed and, for non-finite losses, a checkpoint).
// `device` is this process's compute device (config/device.h: resolve_device, made current);
// comm's collectives take tensors there.
TrainResult train(const RunConfig& config, const std::string& run_dir, Comm& comm,
                  at::Device device = at::kCPU);

// Config keys whose change makes a checkpoint a different run: model.*, objective.*, data.*,
// training.global_batch, training.seed. Throws naming the first such key.
void check_resume_compatible(const RunConfig& saved, const RunConfig& now,
                             const std::string& checkpoint_dir);

}  // namespace crossover
