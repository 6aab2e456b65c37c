#include "crossover/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>

#include "crossover/config/device.h"
#include "crossover/data/prepare.h"
#include "crossover/data/sampler.h"
#include "crossover/dist/sharding.h"
#include "crossover/eval/multiple_choice.h"
#include "crossover/eval/val_loss.h"
#include "crossover/model/flops.h"
#include "crossover/objective/objective.h"
#include "crossover/train/checkpoint.h"
#include "crossover/train/lr_schedule.h"
#include "crossover/train/peak.h"
#include "crossover/train/train_step.h"
#include "crossover/util/fault.h"
#include "crossover/util/fs.h"
#include "crossover/util/log.h"
#include "crossover/util/metrics.h"
#include "crossover/util/progress.h"
#include "crossover/util/run_lock.h"
#include "crossover/util/tensorboard.h"
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

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

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

TrainResult train(const RunConfig& config, const std::string& run_dir, Comm& comm,
                  at::Device device) {
  const auto start = std::chrono::steady_clock::now();
  const bool rank0 = comm.rank() == 0;
  SignalScope signals;
  fs::create_directories(run_dir);
  // One trainer per run directory (util/run_lock.h); the other ranks share rank 0's. Taken
  // before anything, train.log included, is written.
  std::optional<RunLock> run_lock;
  if (rank0) run_lock.emplace(run_dir);
  if (rank0) log::add_file((fs::path(run_dir) / "train.log").string());
  log::set_level(config.logging.level);

  // Hardware.
  const at::ScalarType dtype = resolve_precision(config.hardware, device);
  if (comm.world_size() > 1 && config.distributed.sharding == "none")
    throw ConfigError("distributed.sharding: none cannot run on " + std::to_string(comm.world_size()) +
                      " ranks; use ddp or fsdp");
  const int threads = configure_threads(static_cast<int>(config.hardware.threads));
  warn_if_reference_blas();

  // Data.
  const auto meta = read_data_meta(config.data.path);
  const int64_t vocab = meta.at("vocab_size").get<int64_t>();
  const int32_t eos = meta.at("special_ids").at("eos").get<int32_t>();
  const auto train_store = TokenStore::open((fs::path(config.data.path) / "train.bin").string());
  const auto val_store = TokenStore::open((fs::path(config.data.path) / "val.bin").string());
  RepeatSampler::Options so;
  so.unique_tokens = config.data.unique_tokens.is_all() ? -1 : config.data.unique_tokens.value();
  so.total_tokens = config.data.total_tokens.is_all() ? -1 : config.data.total_tokens.value();
  so.seq_len = config.data.seq_len;
  so.global_batch = config.training.global_batch;
  so.order_seed = static_cast<uint64_t>(config.data.order_seed);
  so.seed = static_cast<uint64_t>(config.training.seed);
  so.rank = comm.rank();
  so.world_size = comm.world_size();
  RepeatSampler sampler(train_store, eos, so);
  const at::Tensor val_windows =
      validation_sequences(val_store, eos, config.data.seq_len, config.eval.val_sequences);
  const int64_t rows = sampler.rows_per_rank();
  const int64_t micro = config.training.micro_batch > 0 ? config.training.micro_batch : rows;
  if (rows % micro != 0)
    throw ConfigError("training.micro_batch (" + std::to_string(micro) +
                      ") must divide the per-rank batch (training.global_batch / world size = " +
                      std::to_string(rows) + ")");

  // Multiple-choice tasks (eval.tasks), read and tokenised once (a bad file fails before any
  // event is written); scored at every evaluation.
  const TaskSuite tasks = TaskSuite::load(config.eval.tasks, config.eval.max_task_examples,
                                          (fs::path(config.data.path) / "tokenizer.model").string(),
                                          config.data.seq_len);
  ScoreOptions task_scoring;
  task_scoring.samples = config.eval.task_samples;
  task_scoring.max_batch_tokens = micro * config.data.seq_len;

  // Model, parameters, objective.
  const Transformer model(config.model, vocab, config.data.seq_len, config.optimizer);
  const ParamCount pc = count_parameters(config.model, vocab);
  if (pc.total != model.layout().total_numel())
    throw std::logic_error("parameter count disagrees with the analytic formula");
  ShardingOptions sh;
  sh.kind = config.distributed.sharding;
  sh.device = device;
  sh.compute_dtype = dtype;
  sh.bucket_bytes = config.distributed.bucket_mb << 20;
  auto sharding = make_sharding(sh, model, config.optimizer, comm);
  const auto objective = make_objective(config.objective, model.mask_id());
  const double flops_per_token = training_flops_per_token(config.model, vocab, config.data.seq_len);
  const int64_t total_steps = sampler.total_steps();

  spdlog::info("crossover {}: {} on {} ({}, {} threads), world size {}, sharding {}", kVersion,
               objective->name(), device.str(), at::toString(dtype), threads, comm.world_size(),
               sharding->name());
  spdlog::info("model: {} layers, d_model {}, {} heads ({} kv), ffn {}, vocab {} (+[MASK]): {} "
               "parameters ({} in blocks, {} embedding{})",
               config.model.layers, config.model.d_model, config.model.heads,
               config.model.kv_heads_resolved(), config.model.ffn_hidden_resolved(), vocab,
               pc.total, pc.blocks, pc.embedding, pc.head ? ", " + std::to_string(pc.head) + " head" : "");
  spdlog::info("data: {} unique tokens ({} sequences of {}), {} steps of {} tokens = {} tokens, "
               "{:.2f} epochs; {} validation sequences",
               sampler.unique_tokens(), sampler.num_sequences(), config.data.seq_len, total_steps,
               sampler.tokens_per_step(), total_steps * sampler.tokens_per_step(),
               static_cast<double>(total_steps * config.training.global_batch) / sampler.num_sequences(),
               val_windows.size(0));

  // Fresh start or resume.
  Checkpointer ckpt(run_dir, config.checkpoint.keep_last, comm);
  if (rank0) ckpt.remove_partial_writes();  // a crashed writer's debris holds disk space
  const auto resume_dir = ckpt.latest();
  int64_t step = 0, bad_steps = 0;
  std::optional<int64_t> resumed_from;
  if (resume_dir) {
    const auto state = Checkpointer::read_state(*resume_dir);
    const RunConfig saved = parse_config(state.at("config").get<std::string>(),
                                         *resume_dir + "/state.json");
    check_resume_compatible(saved, config, *resume_dir);
    sharding->load(*resume_dir, state);
    sampler.restore(state.at("sampler"));
    step = state.at("step").get<int64_t>();
    bad_steps = state.value("bad_steps", int64_t{0});
    sharding->optimizer().set_steps_taken(state.at("optimizer_steps").get<int64_t>());
    ckpt.protect(*resume_dir);
    resumed_from = step;
    spdlog::info("resumed from {} (step {})", *resume_dir, step);
    if (step >= total_steps) {
      spdlog::info("{} already finished at step {}: nothing to do", run_dir, step);
      TrainResult done;
      done.status = "finished";
      done.step = step;
      return done;
    }
  } else {
    sharding->init(static_cast<uint64_t>(config.training.seed));
  }
  MetricsWriter metrics;
  TensorBoardWriter tensorboard;  // the train and eval scalars again, for TensorBoard
  if (rank0) {
    const std::string path = (fs::path(run_dir) / "metrics.jsonl").string();
    if (!resumed_from) fs::remove(path);
    metrics = MetricsWriter(path, resumed_from.value_or(-1));
    if (config.logging.tensorboard)
      tensorboard = TensorBoardWriter((fs::path(run_dir) / "tensorboard").string(), resumed_from);
    atomic_write_file((fs::path(run_dir) / "config.yaml").string(), dump_config(config));
    // The tokenizer and data description travel with the run: eval and generate need them.
    fs::create_directories(fs::path(run_dir) / "data");
    for (const char* name : {"tokenizer.model", "meta.json"})
      fs::copy_file(fs::path(config.data.path) / name, fs::path(run_dir) / "data" / name,
                    fs::copy_options::overwrite_existing);
  }
  const auto mem = sharding->memory();
  spdlog::info("memory on this rank: parameters {} MiB, gradients {} MiB, optimizer {} MiB, "
               "gathered blocks {} MiB",
               mem.param_bytes >> 20, mem.grad_bytes >> 20, mem.optimizer_bytes >> 20,
               mem.gathered_bytes >> 20);

  const PeakReference reference = mfu_reference(config.hardware, device, dtype);
  const double peak = reference.flops_per_s;
  spdlog::info("MFU reference: {:.1f} GFLOP/s ({})", peak / 1e9, reference.source);

  auto axes = [&](int64_t s) {
    const int64_t tokens = s * sampler.tokens_per_step();
    return nlohmann::json{
        {"step", s},
        {"tokens", tokens},
        {"unique_tokens", sampler.unique_tokens()},
        {"epoch", static_cast<double>(s * config.training.global_batch) / sampler.num_sequences()},
        {"flops", flops_per_token * static_cast<double>(tokens)}};
  };
  auto emit = [&](const std::string& kind, int64_t s, const nlohmann::json& fields) {
    if (!rank0) return;
    nlohmann::json e = {{"kind", kind}};
    e.update(axes(s));
    e.update(fields);
    metrics.write(e);
    if (kind == "train" || kind == "eval") tensorboard.add_json_scalars(kind, s, fields);
  };
  emit("run", step, {{"objective", objective->name()}, {"params", pc.total},
                     {"total_steps", total_steps}, {"world_size", comm.world_size()},
                     {"resumed_from", resumed_from ? nlohmann::json(*resumed_from) : nlohmann::json()}});

  TrainResult result;
  auto save = [&](int64_t s) {
    const auto t0 = std::chrono::steady_clock::now();
    nlohmann::json state = axes(s);
    state.update({{"sampler", sampler.state()},
                  {"optimizer_steps", sharding->optimizer().steps_taken()},
                  {"bad_steps", bad_steps},
                  {"config", dump_config(config)},
                  {"crossover_version", kVersion},
                  {"objective", objective->name()},
                  {"world_size", comm.world_size()},
                  {"sharding", sharding->name()},
                  {"checkpoint_format", sharding->checkpoint_format()},
                  {"rng", {{"kind", "philox4x32-10, counter-based: (training.seed, step, row)"},
                           {"seed", config.training.seed}}}});
    std::string dir;
    try {
      dir = ckpt.save(s, state, [&](const std::string& d) { return sharding->save(d); });
    } catch (const std::exception& e) {  // a full disk: the run stops, with the reason recorded
      emit("end", s, {{"status", "failed"}, {"reason", std::string("checkpoint: ") + e.what()}});
      throw;
    }
    emit("checkpoint", s, {{"path", dir}, {"seconds", seconds_since(t0)}});
    spdlog::info("checkpoint {} ({:.1f} s)", dir, seconds_since(t0));
  };
  auto evaluate = [&](int64_t s) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto flats = sharding->full_flats(dtype);
    const ValLoss v = validation_loss(model, flats, config.objective, val_windows,
                                      config.eval.mc_samples, micro, comm);
    const auto task_results = tasks.evaluate(model, flats, objective->causal(), task_scoring, comm);
    result.val_loss = v.loss;
    emit("eval", s, {{"val_loss", v.loss}, {"val_loss_se", v.se}, {"val_ppl", v.ppl},
                     {"tasks", tasks_json(task_results)}});
    if (v.se > 0)
      spdlog::info("eval step {}: val loss {:.4f} ± {:.4f} ({:.1f} s)", s, v.loss, v.se, seconds_since(t0));
    else
      spdlog::info("eval step {}: val loss {:.4f}, ppl {:.2f} ({:.1f} s)", s, v.loss, v.ppl, seconds_since(t0));
    for (const auto& [name, m] : task_results) spdlog::info("eval step {}: {}: {}", s, name, m.summary());
  };

  // The loop.
  const int64_t start_step = step;
  double window_time = 0, window_flops = 0, step_time_total = 0;
  int64_t window_tokens = 0;
  double last_loss = 0;
  int stop_signal = 0;  // agreed by every rank in the step's all-reduce
  while (step < total_steps && stop_signal == 0) {
    const auto t0 = std::chrono::steady_clock::now();
    StepRequest request;
    request.windows = sampler.next();
    request.context = {static_cast<uint64_t>(config.training.seed), step,
                       sampler.first_global_row(step), config.training.global_batch};
    request.micro_batch = micro;
    request.lr = learning_rate(config.schedule, config.optimizer, step, total_steps);
    request.grad_clip = config.optimizer.grad_clip;
    request.stop_signal = g_signal;
    const StepResult r = train_step(*sharding, *objective, comm, request);
    ++step;
    stop_signal = r.stop_signal;
    const double loss = r.loss, gnorm = r.grad_norm, lr = request.lr;
    if (!r.finite) {
      ++bad_steps;
      spdlog::warn("step {}: non-finite loss {} / grad norm {}: step skipped ({} in a row, at most {})",
                   step, loss, gnorm, bad_steps, config.training.max_bad_steps);
      if (bad_steps > config.training.max_bad_steps) {
        save(step);
        emit("end", step, {{"status", "failed"}, {"reason", "non-finite loss"}});
        throw std::runtime_error("training diverged: " + std::to_string(bad_steps) +
                                 " non-finite losses in a row (training.max_bad_steps = " +
                                 std::to_string(config.training.max_bad_steps) +
                                 "); a checkpoint was written at step " + std::to_string(step) +
                                 ". Lower optimizer.lr or raise optimizer.grad_clip.");
      }
      continue;
    }
    bad_steps = 0;
    fault_point("step", step);
    const int64_t positions = r.positions, head_rows = r.head_rows;
    synchronize(device);  // the step's time is the device's time

    const double dt = seconds_since(t0);
    last_loss = loss;
    window_time += dt;
    step_time_total += dt;
    window_tokens += positions;
    window_flops += step_flops(config.model, vocab, config.data.seq_len, positions, head_rows);
    if (step % config.logging.log_every == 0 || step == total_steps) {
      const double tok_s = window_tokens / window_time * comm.world_size();
      const double flops_s = window_flops / window_time;  // this rank
      const double eta = step_time_total / (step - start_step) * (total_steps - step);
      spdlog::info("step {}/{} | epoch {:.2f} | tokens {} | loss {:.4f} | lr {:.2e} | gnorm {:.3f} | "
                   "{} tok/s | {:.1f} GFLOP/s | MFU {:.1f}% | ETA {}",
                   step, total_steps, axes(step)["epoch"].get<double>(),
                   human_count(static_cast<double>(step * sampler.tokens_per_step())), loss, lr,
                   gnorm, human_count(tok_s), flops_s / 1e9, 100.0 * flops_s / peak,
                   human_duration(eta));
      emit("train", step, {{"loss", loss}, {"lr", lr}, {"grad_norm", gnorm}, {"tok_per_s", tok_s},
                           {"tflops", flops_s / 1e12}, {"mfu", flops_s / peak},
                           {"elapsed_s", seconds_since(start)}});
      result.tokens_per_s = tok_s;
      window_time = window_flops = 0;
      window_tokens = 0;
    }
    if (stop_signal != 0) break;  // checkpointed below, at this step on every rank
    if (config.eval.every > 0 && step % config.eval.every == 0 && step < total_steps) evaluate(step);
    if (config.checkpoint.every > 0 && step % config.checkpoint.every == 0 && step < total_steps)
      save(step);
  }

  result.step = step;
  result.train_loss = last_loss;
  if (stop_signal != 0 && step < total_steps) {
    const int sig = stop_signal;
    spdlog::warn("signal {} received: checkpointing at step {} and stopping", sig, step);
    save(step);
    emit("end", step, {{"status", "interrupted"}, {"reason", "signal " + std::to_string(sig)}});
    result.status = "interrupted";
    result.exit_code = 128 + sig;
  } else {
    evaluate(step);
    save(step);
    emit("end", step, {{"status", "finished"}, {"reason", "token budget reached"}});
    result.status = "finished";
  }
  result.seconds = seconds_since(start);
  spdlog::info("{} at step {} after {}: train loss {:.4f}, val loss {:.4f}", result.status, step,
               human_duration(result.seconds), result.train_loss, result.val_loss);
  return result;
}

}  // namespace crossover
