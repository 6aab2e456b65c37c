#include "crossover/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>

#include "crossover/checkpoint/run_dir.h"
#include "crossover/config/device.h"
#include "crossover/data/data_dir.h"
#include "crossover/eval/eval_detail.h"
#include "crossover/eval/val_loss.h"
#include "crossover/model/peak.h"
#include "crossover/optim/lr_schedule.h"
#include "crossover/util/fault.h"
#include "crossover/util/log.h"
#include "crossover/util/progress.h"
#include "crossover/util/run_lock.h"
#include "crossover/util/threads.h"
#include "crossover/version.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  if (g_signal.exchange(sig) != 0) std::_Exit(128 + sig);  // a second signal: stop now
}

// Installs SIGINT/SIGTERM handlers for the lifetime of a training run.
class SignalScope {
 public:
  SignalScope() {
    g_signal = 0;
    old_int_ = std::signal(SIGINT, on_stop_signal);
    old_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~SignalScope() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

}  // namespace

void check_resume_compatible(const RunConfig& saved, const RunConfig& now,
                             const std::string& checkpoint_dir) {
  for (const auto& key : config_differences(saved, now)) {
    const bool breaking = key.rfind("model.", 0) == 0 || key.rfind("objective.", 0) == 0 ||
                          key.rfind("data.", 0) == 0 || key == "training.global_batch" ||
                          key == "training.seed";
    if (!breaking) {
      spdlog::info("resume: {} changed since the checkpoint (allowed)", key);
      continue;
    }
    throw ConfigError("cannot resume from " + checkpoint_dir + ": " + key + " is " +
                      config_value(saved, key) + " there but " + config_value(now, key) +
                      " in this config; a different model, objective, data stream, global "
                      "batch or seed is a different run (use a new --run-dir)");
  }
}

Trainer::Trainer(const RunConfig& config, std::string run_dir, Comm& comm, at::Device device)
    : config_(config), run_dir_(std::move(run_dir)), comm_(comm), device_(device),
      rank0_(comm.rank() == 0), start_(std::chrono::steady_clock::now()) {}

struct Trainer::Guards {
  SignalScope signals;
  std::optional<RunLock> run_lock;
};

// guards_ is the first member, so it is destroyed last: the writers, the checkpointer and the
// sharding are gone before the lock is released and the old signal handlers come back.
Trainer::~Trainer() = default;

TrainResult train(const RunConfig& config, const std::string& run_dir, Comm& comm,
                  at::Device device) {
  return Trainer(config, run_dir, comm, device).run();
}

TrainResult Trainer::run() {
  if (guards_) throw std::logic_error("Trainer::run: a Trainer runs once");
  guards_ = std::make_unique<Guards>();
  fs::create_directories(run_dir_);
  // One trainer per run directory (util/run_lock.h); the other ranks share rank 0's. Taken
  // before anything, train.log included, is written.
  if (rank0_) guards_->run_lock.emplace(run_dir_);
  if (rank0_) log::add_file(RunDir{run_dir_}.train_log());
  log::set_level(to_string(config_.logging.level));

  set_up_hardware();
  open_data();
  build_model();
  log_setup();
  if (resume_or_init()) return result_;  // a finished run: nothing to do
  open_outputs();
  return loop();
}

void Trainer::set_up_hardware() {
  dtype_ = resolve_precision(config_.hardware, device_);
  if (comm_.world_size() > 1 && config_.distributed.sharding == ShardingKind::kNone)
    throw ConfigError("distributed.sharding: none cannot run on " +
                      std::to_string(comm_.world_size()) + " ranks; use ddp or fsdp");
  threads_ = configure_threads(static_cast<int>(config_.hardware.threads));
  warn_if_reference_blas();
}

void Trainer::open_data() {
  const DataDir data{config_.data.path};
  const DataMeta meta = DataMeta::read(data.root);
  vocab_ = meta.vocab_size;
  const int32_t eos = meta.eos_id;
  train_store_ = std::make_unique<TokenStore>(TokenStore::open(data.train()));
  const auto val_store = TokenStore::open(data.val());
  sampler_ = std::make_unique<RepeatSampler>(
      *train_store_, eos, sampler_options(config_, comm_.rank(), comm_.world_size()));
  ValidationSet val = validation_set(val_store, eos, config_.data.seq_len,
                                     config_.eval.val_sequences);
  val_windows_ = val.windows;
  val_index_ = std::move(val.index);
  const int64_t rows = sampler_->rows_per_rank();
  micro_ = config_.training.micro_batch > 0 ? config_.training.micro_batch : rows;
  if (rows % micro_ != 0)
    throw ConfigError("training.micro_batch (" + std::to_string(micro_) +
                      ") must divide the per-rank batch (training.global_batch / world size = " +
                      std::to_string(rows) + ")");
  total_steps_ = sampler_->total_steps();
  eval_schedule_ = EvalSchedule(config_.eval, total_steps_);

  // Multiple-choice tasks (eval.tasks), read and tokenised once (a bad file fails before any
  // event is written); scored at every evaluation.
  tasks_ = TaskSuite::load(config_.eval.tasks, config_.eval.max_task_examples, data.tokenizer(),
                           config_.data.seq_len);
  task_scoring_.samples = config_.eval.task_samples;
  task_scoring_.max_batch_tokens = micro_ * config_.data.seq_len;
}

void Trainer::build_model() {
  model_ = std::make_unique<Transformer>(config_.model, vocab_, config_.data.seq_len);
  params_ = count_parameters(config_.model, vocab_);
  if (params_.total != model_->layout().total_numel())
    throw std::logic_error("parameter count disagrees with the analytic formula");
  ShardingOptions sh = sharding_options(config_.distributed, device_, dtype_);
  set_cpu_workers(sh, config_.hardware.cpu_workers, threads_, micro_);
  cpu_workers_ = sh.cpu_workers;
  sharding_ = make_sharding(sh, *model_, config_.optimizer, comm_);
  objective_ = make_objective(config_.objective, model_->mask_id());
  flops_per_token_ = training_flops_per_token(config_.model, vocab_, config_.data.seq_len);
}

void Trainer::log_setup() const {
  const auto& m = config_.model;
  spdlog::info("crossover {}: {} on {} ({}, {} threads{}), world size {}, sharding {}", kVersion,
               objective_->name(), device_.str(), at::toString(dtype_), threads_,
               cpu_workers_ > 1 ? " in " + std::to_string(cpu_workers_) + " batch workers" : "",
               comm_.world_size(), sharding_->name());
  spdlog::info("model: {} layers, d_model {}, {} heads ({} kv), ffn {}, vocab {} (+[MASK]): {} "
               "parameters ({} in blocks, {} embedding{})",
               m.layers, m.d_model, m.heads, m.kv_heads_resolved(), m.ffn_hidden_resolved(), vocab_,
               params_.total, params_.blocks, params_.embedding,
               params_.head ? ", " + std::to_string(params_.head) + " head" : "");
  spdlog::info(
      "data: {} unique tokens ({} sequences of {}), {} steps of {} tokens = {} tokens, "
      "{:.2f} epochs; {} validation sequences",
      sampler_->unique_tokens(), sampler_->num_sequences(), config_.data.seq_len, total_steps_,
      sampler_->tokens_per_step(), total_steps_ * sampler_->tokens_per_step(),
      static_cast<double>(total_steps_ * config_.training.global_batch) / sampler_->num_sequences(),
      val_windows_.size(0));
}

bool Trainer::resume_or_init() {
  checkpointer_ = std::make_unique<Checkpointer>(run_dir_, config_.checkpoint.keep_last, comm_);
  if (config_.checkpoint.async)
    background_ = std::make_unique<BackgroundCheckpoints>(*checkpointer_, comm_, model_->layout());
  if (rank0_) checkpointer_->remove_partial_writes();  // a crashed writer's debris holds disk space
  const auto resume_dir = checkpointer_->latest();
  if (!resume_dir) {
    sharding_->init(static_cast<uint64_t>(config_.training.seed));
    return false;
  }
  // Each rank verifies the tensor files it reads (its own shards when the world size is the
  // same), not every rank's: at 8B on 16 ranks, 1/16 of the bytes.
  const nlohmann::json raw = Checkpointer::read_state(*resume_dir, Checkpointer::Verify::kOnRead);
  const std::string where = *resume_dir + "/state.json";
  const TrainState state = TrainState::from_json(raw, where);
  check_resume_compatible(state.run_config(where), config_, *resume_dir);
  sharding_->load(*resume_dir, raw);
  sampler_->restore(state.sampler);
  step_ = state.step;
  bad_steps_ = state.bad_steps;
  sharding_->optimizer().set_steps_taken(state.optimizer_steps);
  checkpointer_->protect(*resume_dir);
  resumed_from_ = step_;
  spdlog::info("resumed from {} (step {})", *resume_dir, step_);
  if (step_ < total_steps_) return false;
  spdlog::info("{} already finished at step {}: nothing to do", run_dir_, step_);
  result_.status = "finished";
  result_.step = step_;
  return true;
}

void Trainer::open_outputs() {
  if (rank0_) {
    const RunDir run{run_dir_};
    if (!resumed_from_) fs::remove(run.metrics());
    metrics_ = MetricsWriter(run.metrics(), resumed_from_.value_or(-1));
    if (!resumed_from_) fs::remove(run.eval_detail());
    eval_detail_ = MetricsWriter(run.eval_detail(), resumed_from_.value_or(-1));
    if (config_.logging.tensorboard)
      tensorboard_ = TensorBoardWriter(run.tensorboard(), resumed_from_);
    run.write_run_files(config_);
  }
  const auto mem = sharding_->memory();
  spdlog::info("memory on this rank: parameters {} MiB, gradients {} MiB, optimizer {} MiB, "
               "gathered blocks {} MiB",
               mem.param_bytes >> 20, mem.grad_bytes >> 20, mem.optimizer_bytes >> 20,
               mem.gathered_bytes >> 20);
  const PeakReference reference = mfu_reference(config_.hardware, device_, dtype_);
  peak_flops_ = reference.flops_per_s;
  spdlog::info("MFU reference: {:.1f} GFLOP/s ({})", peak_flops_ / 1e9, reference.source);
  emit("run", step_,
       {{"objective", objective_->name()},
        {"params", params_.total},
        {"total_steps", total_steps_},
        {"world_size", comm_.world_size()},
        {"resumed_from", resumed_from_ ? nlohmann::json(*resumed_from_) : nlohmann::json()}});
}

nlohmann::json Trainer::axes(int64_t s) const {
  const int64_t tokens = s * sampler_->tokens_per_step();
  return nlohmann::json{{"step", s},
                        {"tokens", tokens},
                        {"unique_tokens", sampler_->unique_tokens()},
                        {"epoch", epoch(s)},
                        {"flops", flops_per_token_ * static_cast<double>(tokens)}};
}

double Trainer::epoch(int64_t s) const {
  return static_cast<double>(s * config_.training.global_batch) / sampler_->num_sequences();
}

void Trainer::emit(const std::string& kind, int64_t s, const nlohmann::json& fields) {
  if (!rank0_) return;
  nlohmann::json e = {{"kind", kind}};
  e.update(axes(s));
  e.update(fields);
  metrics_.write(e);
  if (kind == "train" || kind == "eval") tensorboard_.add_json_scalars(kind, s, fields);
}

TrainState Trainer::checkpoint_state(int64_t s) const {
  TrainState state = TrainState::of_run(config_, *sampler_, s, flops_per_token_);
  state.optimizer_steps = sharding_->optimizer().steps_taken();
  state.bad_steps = bad_steps_;
  state.world_size = comm_.world_size();
  state.sharding = config_.distributed.sharding;
  state.checkpoint_format = sharding_->checkpoint_format();
  return state;
}

void Trainer::save(int64_t s, bool background) {
  PhaseScope timed(timer_.get(), Phase::kCheckpoint);
  const auto t0 = std::chrono::steady_clock::now();
  std::string dir;
  try {
    if (background_) {
      // At most one checkpoint in flight: the previous one is committed first (so a
      // synchronous save below never races a background one).
      if (!background) background_->finish();
      report_committed();
    }
    if (background) {
      background_->start(s, checkpoint_state(s),
                         [&](CheckpointSnapshot& snapshot) { sharding_->snapshot(snapshot); });
      spdlog::debug("checkpoint at step {}: copied in {:.3f} s, writing in the background", s,
                    seconds_since(t0));
      return;
    }
    dir = checkpointer_->save(s, checkpoint_state(s),
                              [&](const std::string& d) { return sharding_->save(d); });
  } catch (const std::exception& e) {  // a full disk: the run stops, with the reason recorded
    emit("end", s, {{"status", "failed"}, {"reason", std::string("checkpoint: ") + e.what()}});
    throw;
  }
  emit("checkpoint", s, {{"path", dir}, {"seconds", seconds_since(t0)}, {"background", false}});
  spdlog::info("checkpoint {} ({:.1f} s)", dir, seconds_since(t0));
}

void Trainer::follow_background_checkpoint(const StepResult& r) {
  if (!background_) return;
  try {
    background_->agree(r.ranks_writing, r.ranks_failed);
  } catch (const std::exception&
               e) {  // every rank stops at this step, the previous checkpoint the latest
    emit("end", step_, {{"status", "failed"}, {"reason", std::string("checkpoint: ") + e.what()}});
    throw;
  }
  report_committed();
}

void Trainer::report_committed() {
  for (const auto& c : background_->take_committed()) {
    // Logged at the step the trainer learns of it (the `checkpoint` event keeps its own step).
    emit("checkpoint", c.step,
         {{"path", c.dir}, {"seconds", c.write_seconds}, {"background", true}});
    spdlog::info("checkpoint {} (written in the background in {:.1f} s)", c.dir, c.write_seconds);
  }
}

void Trainer::evaluate(int64_t s) {
  PhaseScope timed(timer_.get(), Phase::kEval);
  const auto t0 = std::chrono::steady_clock::now();
  const auto flats = sharding_->full_flats(dtype_);
  const ValLoss v = validation_loss(*model_, flats, *objective_, val_windows_,
                                    config_.eval.mc_samples, micro_, comm_);
  const int64_t task_every = config_.eval.task_every;
  const bool with_tasks = task_every == 0 || s % task_every == 0 || s >= total_steps_;
  const auto task_results = with_tasks
                                ? tasks_.evaluate(*model_, flats, *objective_, task_scoring_, comm_)
                                : TaskResults{};
  result_.val_loss = v.loss;
  emit("eval", s,
       {{"val_loss", v.loss},
        {"val_loss_se", v.se},
        {"val_ppl", v.ppl},
        {"val_loss_window_se", v.window_sampling_se()},
        {"tasks", tasks_json(task_results)}});
  if (rank0_) {
    nlohmann::json detail = {{"kind", "eval_detail"}};
    detail.update(eval_detail(s, s * sampler_->tokens_per_step(), val_index_, v,
                              objective_->exact_likelihood(), tasks_, task_results));
    eval_detail_.write(detail);
  }
  if (v.se > 0)
    spdlog::info("eval step {}: val loss {:.4f} ± {:.4f} ({:.1f} s)", s, v.loss, v.se,
                 seconds_since(t0));
  else
    spdlog::info("eval step {}: val loss {:.4f}, ppl {:.2f} ({:.1f} s)", s, v.loss, v.ppl,
                 seconds_since(t0));
  for (const auto& [name, m] : task_results)
    spdlog::info("eval step {}: {}: {}", s, name, m.summary());
}

StepResult Trainer::train_step() {
  StepRequest request;
  {
    PhaseScope data(timer_.get(), Phase::kData);
    const at::Tensor windows = prefetcher_->take(step_);
    sampler_->advance();  // the cursor a checkpoint saves: past the step taken
    // Token ids only cross to the device (asynchronously, from pinned memory); the objective
    // builds the batch, masks included, where the model runs.
    request.windows = windows.to(at::TensorOptions().device(device_), /*non_blocking=*/true);
  }
  request.context = {static_cast<uint64_t>(config_.training.seed), step_,
                     sampler_->first_global_row(step_), config_.training.global_batch};
  request.micro_batch = micro_;
  request.lr = learning_rate(config_.schedule, config_.optimizer, step_, total_steps_);
  request.grad_clip = config_.optimizer.grad_clip;
  request.stop_signal = g_signal;
  request.checkpoint_writing = background_ && background_->writing();
  request.checkpoint_failed = background_ && background_->failed();
  request.timer = timer_.get();
  request.forbid_host_syncs = config_.training.forbid_host_syncs;
  const StepResult r = crossover::train_step(*sharding_, *objective_, comm_, request);
  ++step_;  // the step's scopes have returned the timer to the trainer's own phase (other)
  follow_background_checkpoint(r);
  return r;
}

void Trainer::stop_if_diverged(const StepResult& r) {
  ++bad_steps_;
  spdlog::warn("step {}: non-finite loss {} / grad norm {}: step skipped ({} in a row, at most {})",
               step_, r.loss, r.grad_norm, bad_steps_, config_.training.max_bad_steps);
  if (bad_steps_ <= config_.training.max_bad_steps) return;
  save(step_);
  emit("end", step_, {{"status", "failed"}, {"reason", "non-finite loss"}});
  throw std::runtime_error("training diverged: " + std::to_string(bad_steps_) +
                           " non-finite losses in a row (training.max_bad_steps = " +
                           std::to_string(config_.training.max_bad_steps) +
                           "); a checkpoint was written at step " + std::to_string(step_) +
                           ". Lower optimizer.lr or raise optimizer.grad_clip.");
}

void Trainer::count_step(const StepResult& r) {
  ++window_.steps;
  window_.tokens += r.positions;
  window_.flops += step_flops(config_.model, vocab_, config_.data.seq_len, r.positions,
                              r.head_rows);
}

void Trainer::log_progress(const StepResult& r) {
  if (step_ % config_.logging.log_every != 0 && step_ != total_steps_) return;
  // The window's time by phase (util/phase_timer.h), per step. Evaluation and checkpoints
  // since the last line are part of it; throughput and MFU count the training phases only.
  const PhaseTimes times = timer_->take();
  const double training_s = times.total() - times[Phase::kEval] - times[Phase::kCheckpoint];
  window_.total_seconds += times.total();
  const double tok_s = window_.tokens / training_s * comm_.world_size();
  const double flops_s = window_.flops / training_s;  // this rank
  const double eta = window_.total_seconds / (step_ - start_step_) * (total_steps_ - step_);
  spdlog::info("step {}/{} | epoch {:.2f} | tokens {} | loss {:.4f} | lr {:.2e} | gnorm {:.3f} | "
               "{} tok/s | {:.1f} GFLOP/s | MFU {:.1f}% | {:.3f} s/step ({}) | ETA {}",
               step_, total_steps_, epoch(step_),
               human_count(static_cast<double>(step_ * sampler_->tokens_per_step())), r.loss, r.lr,
               r.grad_norm, human_count(tok_s), flops_s / 1e9, 100.0 * flops_s / peak_flops_,
               times.total() / window_.steps, phase_shares(times), human_duration(eta));
  emit("train", step_,
       {{"loss", r.loss},
        {"lr", r.lr},
        {"grad_norm", r.grad_norm},
        {"tok_per_s", tok_s},
        {"tflops", flops_s / 1e12},
        {"mfu", flops_s / peak_flops_},
        {"time", phase_seconds_per_step(times, window_.steps)},
        {"elapsed_s", seconds_since(start_)}});
  result_.tokens_per_s = tok_s;
  window_.flops = 0;
  window_.tokens = window_.steps = 0;
}

TrainResult Trainer::loop() {
  start_step_ = step_;
  // Timed from here: set-up and resume are not steps.
  timer_ = std::make_unique<PhaseTimer>(make_device_timeline(device_), Phase::kOther);
  sharding_->set_timer(timer_.get());
  prefetcher_ = std::make_unique<BatchPrefetcher>(*sampler_, step_, total_steps_, /*depth=*/2,
                                                  /*pinned=*/device_.is_cuda());
  double last_loss = 0;
  int stop_signal = 0;  // agreed by every rank in the step's all-reduce
  while (step_ < total_steps_ && stop_signal == 0) {
    const StepResult r = train_step();
    stop_signal = r.stop_signal;
    count_step(r);  // a skipped step took its time too
    if (!r.finite) {
      stop_if_diverged(r);
      continue;
    }
    bad_steps_ = 0;
    fault_point("step", step_);
    last_loss = r.loss;
    log_progress(r);
    if (stop_signal != 0) break;  // checkpointed below, at this step on every rank
    if (eval_schedule_.due(step_)) evaluate(step_);
    if (config_.checkpoint.every > 0 && step_ % config_.checkpoint.every == 0 &&
        step_ < total_steps_)
      save(step_, /*background=*/background_ != nullptr);
  }
  return finish(stop_signal, last_loss);
}

TrainResult Trainer::finish(int stop_signal, double last_loss) {
  result_.step = step_;
  result_.train_loss = last_loss;
  if (stop_signal != 0 && step_ < total_steps_) {
    spdlog::warn("signal {} received: checkpointing at step {} and stopping", stop_signal, step_);
    save(step_);
    emit("end", step_,
         {{"status", "interrupted"}, {"reason", "signal " + std::to_string(stop_signal)}});
    result_.status = "interrupted";
    result_.exit_code = 128 + stop_signal;
  } else {
    evaluate(step_);
    save(step_);
    emit("end", step_, {{"status", "finished"}, {"reason", "token budget reached"}});
    result_.status = "finished";
  }
  result_.seconds = seconds_since(start_);
  // An interrupted run may not have evaluated yet: no val loss then, rather than a made-up one.
  const std::string val = result_.val_loss ? fmt::format(", val loss {:.4f}", *result_.val_loss)
                                           : std::string();
  spdlog::info("{} at step {} after {}: train loss {:.4f}{}", result_.status, step_,
               human_duration(result_.seconds), result_.train_loss, val);
  return result_;
}

}  // namespace crossover
