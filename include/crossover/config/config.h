// RunConfig: one YAML file describes one run. Every section is a typed struct whose fields are
// listed once, in its visit() function, with their documentation and the rule that validates
// them. Loading, dumping, `--set` overrides and equality all walk that single list, so a field
// cannot be documented, parsed or dumped inconsistently, and an unknown key is always an error.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "crossover/config/choices.h"
#include "crossover/config/rules.h"
#include "crossover/config/token_count.h"

namespace crossover {

struct ModelConfig {
  int64_t layers = 4;
  int64_t d_model = 256;
  int64_t heads = 4;
  int64_t kv_heads = 0;    // 0: same as heads (no grouped-query attention)
  int64_t ffn_hidden = 0;  // 0: 8/3 * d_model rounded up to a multiple of 64
  bool qk_norm = true;
  double rope_theta = 10000.0;
  double norm_eps = 1e-6;
  bool tie_embeddings = true;
  double init_std = 0.02;
  AttentionImpl attention = AttentionImpl::kAuto;
  double dropout = 0.0;

  int64_t kv_heads_resolved() const { return kv_heads == 0 ? heads : kv_heads; }
  int64_t ffn_hidden_resolved() const {
    return ffn_hidden != 0 ? ffn_hidden : (8 * d_model / 3 + 63) / 64 * 64;
  }
  int64_t head_dim() const { return d_model / heads; }

  template <class V>
  void visit(V& v) {
    v.field("layers", layers, "number of transformer blocks", rule::Positive{});
    v.field("d_model", d_model, "residual stream width", rule::Positive{});
    v.field("heads", heads, "attention heads (query heads); must divide d_model", rule::Positive{});
    v.field("kv_heads", kv_heads, "key/value heads for grouped-query attention; 0 = heads",
            rule::NonNegative{});
    v.field("ffn_hidden", ffn_hidden, "SwiGLU hidden width; 0 = 8/3 d_model rounded up to 64",
            rule::NonNegative{});
    v.field("qk_norm", qk_norm, "RMSNorm on queries and keys per head", rule::Any{});
    v.field("rope_theta", rope_theta, "RoPE base frequency", rule::Positive{});
    v.field("norm_eps", norm_eps, "RMSNorm epsilon", rule::Positive{});
    v.field("tie_embeddings", tie_embeddings, "share the token embedding with the LM head",
            rule::Any{});
    v.field("init_std", init_std,
            "std of the normal init; residual output projections use init_std/sqrt(2*layers)",
            rule::Positive{});
    v.field("attention", attention,
            "attention implementation: auto (the blocked CPU kernel for fp32 on the CPU, sdpa "
            "elsewhere where LibTorch has it), sdpa, or plain (composed LibTorch ops)",
            rule::Any{});
    v.field("dropout", dropout,
            "training only: drop attention probabilities and each block's two residual branches "
            "with this probability (0 = off; masks keyed by step and row, so recompute and "
            "resume draw the same ones)",
            rule::Range{0.0, 1.0, false, true});
  }
  bool operator==(const ModelConfig&) const = default;
};

struct ObjectiveConfig {
  ObjectiveType type = ObjectiveType::kAr;
  NoiseScheduleType schedule = NoiseScheduleType::kLinear;
  double eps = 1e-3;
  LossWeight loss_weight = LossWeight::kInverseT;
  bool stratified_t = true;
  double ar_input_mask_prob = 0.0;
  double random_length_prob = 0.0;

  template <class V>
  void visit(V& v) {
    v.field("type", type,
            "ar: causal attention, next-token loss; mdm: masked diffusion, bidirectional",
            rule::Any{});
    v.field("schedule", schedule, "mdm noise schedule (mask probability as a function of t)",
            rule::Any{});
    v.field("eps", eps, "mdm: t is drawn from U(eps, 1]", rule::Range{0.0, 1.0, true, true});
    v.field("loss_weight", loss_weight,
            "mdm: inverse_t (ELBO weight 1/t) or mask_fraction (1/realised mask fraction, at "
            "least one masked token per row, as MegaDLMs)",
            rule::Any{});
    v.field("stratified_t", stratified_t,
            "mdm: t_i = (u + i/B) mod 1 across the global batch (lower-variance loss)",
            rule::Any{});
    v.field("ar_input_mask_prob", ar_input_mask_prob,
            "ar ablation: replace each input token by [MASK] with this probability",
            rule::Range{0.0, 1.0, false, true});
    v.field("random_length_prob", random_length_prob,
            "probability that a step's batch is cut to a random shorter length",
            rule::Range{0.0, 1.0});
  }
  bool operator==(const ObjectiveConfig&) const = default;
  // This section with the type switched; what only AR uses (the input-masking ablation) is
  // reset when switching to mdm, so the result validates.
  ObjectiveConfig with_type(ObjectiveType t) const {
    ObjectiveConfig c = *this;
    c.type = t;
    if (t != ObjectiveType::kAr) c.ar_input_mask_prob = 0;
    return c;
  }
};

struct DataConfig {
  std::string path = "data/kjv";
  int64_t seq_len = 256;
  TokenCount unique_tokens = TokenCount::all();
  TokenCount total_tokens = TokenCount(10'000'000);
  int64_t order_seed = 1234;

  template <class V>
  void visit(V& v) {
    v.field("path", path, "directory written by `crossover prepare` (train.bin, val.bin, ...)",
            rule::Any{});
    v.field("seq_len", seq_len, "tokens per training sequence", rule::Positive{});
    v.field("unique_tokens", unique_tokens,
            "unique training tokens U: the first documents of one fixed seeded order; all = "
            "the whole training split",
            rule::Positive{});
    v.field("total_tokens", total_tokens,
            "total training tokens T; the subset is repeated T/U times (all = one epoch)",
            rule::Positive{});
    v.field("order_seed", order_seed,
            "seed of the document order that defines the nested unique subsets; keep it fixed "
            "across a sweep",
            rule::NonNegative{});
  }
  bool operator==(const DataConfig&) const = default;
};

struct OptimizerConfig {
  double lr = 3e-4;
  double min_lr = 3e-5;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  double grad_clip = 1.0;
  bool decay_embeddings = false;
  bool decay_norms = false;

  template <class V>
  void visit(V& v) {
    v.field("lr", lr, "peak learning rate (AdamW)", rule::Positive{});
    v.field("min_lr", min_lr, "learning rate at the end of the decay", rule::NonNegative{});
    v.field("beta1", beta1, "AdamW beta1", rule::Range{0.0, 1.0, false, true});
    v.field("beta2", beta2, "AdamW beta2", rule::Range{0.0, 1.0, false, true});
    v.field("eps", eps, "AdamW epsilon", rule::Positive{});
    v.field("weight_decay", weight_decay, "decoupled weight decay", rule::NonNegative{});
    v.field("grad_clip", grad_clip, "clip the global gradient norm to this; 0 = off",
            rule::NonNegative{});
    v.field("decay_embeddings", decay_embeddings, "apply weight decay to embeddings", rule::Any{});
    v.field("decay_norms", decay_norms, "apply weight decay to norm gains", rule::Any{});
  }
  bool operator==(const OptimizerConfig&) const = default;
};

struct ScheduleConfig {
  LrShape type = LrShape::kCosine;
  int64_t warmup_steps = 100;
  double decay_fraction = 0.2;

  template <class V>
  void visit(V& v) {
    v.field("type", type,
            "learning-rate shape after warmup: cosine to min_lr, wsd (warmup-stable-decay), or "
            "constant",
            rule::Any{});
    v.field("warmup_steps", warmup_steps, "linear warmup from 0 to lr", rule::NonNegative{});
    v.field("decay_fraction", decay_fraction,
            "wsd: fraction of all steps spent in the final linear decay to min_lr",
            rule::Range{0.0, 1.0, true, false});
  }
  bool operator==(const ScheduleConfig&) const = default;
};

struct TrainingConfig {
  int64_t global_batch = 16;
  int64_t micro_batch = 0;
  int64_t seed = 0;
  int64_t max_bad_steps = 3;
  bool forbid_host_syncs = false;

  template <class V>
  void visit(V& v) {
    v.field("global_batch", global_batch, "sequences per optimizer step, over all ranks",
            rule::Positive{});
    v.field("micro_batch", micro_batch,
            "sequences per forward/backward on one rank; 0 = global_batch / world size (no "
            "gradient accumulation)",
            rule::NonNegative{});
    v.field("seed", seed, "seed of initialisation, diffusion times and masks", rule::NonNegative{});
    v.field("max_bad_steps", max_bad_steps,
            "NaN/Inf losses skipped in a row before the run stops with a checkpoint",
            rule::NonNegative{});
    v.field("forbid_host_syncs", forbid_host_syncs,
            "on a GPU, stop the run with an error naming the operation if anything in a step's "
            "micro-batch loop (forward, backward, gradient reduction) makes the host wait for "
            "the device (LibTorch's CUDA sync debug mode); a check for development, no effect "
            "on the CPU",
            rule::Any{});
  }
  bool operator==(const TrainingConfig&) const = default;
};

struct EvalConfig {
  int64_t every = 0;
  int64_t log_points = 0;
  int64_t val_sequences = 64;
  int64_t mc_samples = 32;
  std::vector<std::string> tasks;
  int64_t task_samples = 128;
  int64_t max_task_examples = 0;
  int64_t task_every = 0;

  template <class V>
  void visit(V& v) {
    v.field("every", every, "validation every this many steps; 0 = only at the end",
            rule::NonNegative{});
    v.field("log_points", log_points,
            "also evaluate at this many log-spaced steps (total^(i/N), i = 1..N): dense early, "
            "where an AR run on repeated data reaches its best; 0 = none",
            rule::NonNegative{});
    v.field("val_sequences", val_sequences,
            "validation windows of data.seq_len tokens, spread over the whole of val.bin with a "
            "fixed seed (every window when it holds no more); 0 = all of them",
            rule::NonNegative{});
    v.field("mc_samples", mc_samples,
            "mdm: Monte-Carlo samples of the ELBO per validation sequence", rule::Positive{});
    v.field("tasks", tasks, "multiple-choice task files (JSONL) evaluated with the val loss",
            rule::Any{});
    v.field("task_samples", task_samples,
            "mdm: samples of the answer-likelihood estimator per option", rule::Positive{});
    v.field("max_task_examples", max_task_examples, "examples per task; 0 = all",
            rule::NonNegative{});
    v.field("task_every", task_every,
            "score the tasks only at evaluations whose step is a multiple of this, and at the "
            "last; 0 = at every evaluation",
            rule::NonNegative{});
  }
  bool operator==(const EvalConfig&) const = default;
};

struct CheckpointConfig {
  int64_t every = 0;
  int64_t keep_last = 2;
  bool async = true;

  template <class V>
  void visit(V& v) {
    v.field("every", every, "checkpoint every this many steps; 0 = only at the end and on signals",
            rule::NonNegative{});
    v.field("keep_last", keep_last, "checkpoints kept (older ones are deleted)", rule::Positive{});
    v.field("async", async,
            "write periodic checkpoints on a background thread: the step waits only for the copy "
            "to host memory (the last checkpoint, and one on a signal, are waited for)",
            rule::Any{});
  }
  bool operator==(const CheckpointConfig&) const = default;
};

struct DistributedConfig {
  ShardingKind sharding = ShardingKind::kNone;
  CommBackend backend = CommBackend::kAuto;
  int64_t timeout_s = 300;
  int64_t bucket_mb = 25;
  ProcessGroupMode process_group = ProcessGroupMode::kAuto;
  RecomputeChoice recompute = RecomputeChoice::kAuto;
  ReduceDtype reduce_dtype = ReduceDtype::kFp32;
  GradReduce grad_reduce = GradReduce::kMicroBatch;
  bool overlap_grad_reduce = true;

  template <class V>
  void visit(V& v) {
    v.field("sharding", sharding,
            "none, ddp (replicated, all-reduced gradients) or fsdp (ZeRO-3 per block)",
            rule::Any{});
    v.field("backend", backend, "collectives: nccl on CUDA, gloo on CPU (auto picks)", rule::Any{});
    v.field("timeout_s", timeout_s,
            "a collective waiting longer than this fails the run instead of hanging",
            rule::Positive{});
    v.field("bucket_mb", bucket_mb, "ddp: gradient all-reduce bucket size in MiB",
            rule::Positive{});
    v.field("process_group", process_group,
            "auto: a process group only for more than one rank; always: also for one (a single "
            "GPU then runs every collective of ddp and fsdp over NCCL)",
            rule::Any{});
    v.field("recompute", recompute,
            "activations in backward: full keeps only each block's input and recomputes the "
            "block (about 4 forward-equivalents of work for 3), none keeps every activation; "
            "auto is full for fsdp, none for none and ddp",
            rule::Any{});
    v.field("reduce_dtype", reduce_dtype,
            "dtype of the gradient reduction (ddp all-reduce, fsdp reduce-scatter): bf16 halves "
            "its bytes and rounds every rank's contribution; the sum lands in fp32 either way",
            rule::Any{});
    v.field("grad_reduce", grad_reduce,
            "fsdp with several micro-batches: micro_batch reduce-scatters each block's gradient "
            "after every micro-batch; step keeps the full fp32 gradient of every block on each "
            "rank (4 bytes x parameters more memory) and reduce-scatters once per step. ddp "
            "always reduces once per step",
            rule::Any{});
    v.field("overlap_grad_reduce", overlap_grad_reduce,
            "ddp: start each gradient bucket's all-reduce in the backward of the step's last "
            "micro-batch, once its layers' gradients are final (last block first), so it runs "
            "while the layers below compute; false: every bucket after the backward. No effect "
            "with hardware.cpu_workers > 1",
            rule::Any{});
  }
  // recompute with auto resolved for `sharding`.
  bool recomputes() const {
    return recompute == RecomputeChoice::kFull ||
           (recompute == RecomputeChoice::kAuto && sharding == ShardingKind::kFsdp);
  }
  bool operator==(const DistributedConfig&) const = default;
};

struct LoggingConfig {
  LogLevel level = LogLevel::kInfo;
  int64_t log_every = 10;
  bool tensorboard = true;

  template <class V>
  void visit(V& v) {
    v.field("level", level, "console and train.log verbosity", rule::Any{});
    v.field("log_every", log_every, "a progress line and a train metric every this many steps",
            rule::Positive{});
    v.field("tensorboard", tensorboard,
            "also write the train and eval scalars to a TensorBoard event file in "
            "RUN_DIR/tensorboard/ (rank 0)",
            rule::Any{});
  }
  bool operator==(const LoggingConfig&) const = default;
};

struct HardwareConfig {
  DeviceChoice device = DeviceChoice::kAuto;
  int64_t threads = 0;
  int64_t cpu_workers = 0;
  PrecisionChoice precision = PrecisionChoice::kAuto;
  double peak_tflops = 0.0;

  template <class V>
  void visit(V& v) {
    v.field("device", device, "cuda when available (auto), or force cpu / cuda", rule::Any{});
    v.field("threads", threads, "CPU threads for LibTorch; 0 = all available cores",
            rule::NonNegative{});
    v.field("cpu_workers", cpu_workers,
            "CPU, sharding none/ddp: split each micro-batch's rows over this many worker threads, "
            "each with threads / workers LibTorch threads; 0 = min(threads, rows per "
            "micro-batch), 1 = off",
            rule::NonNegative{});
    v.field("precision", precision, "compute precision: bf16 on CUDA and fp32 on CPU (auto)",
            rule::Any{});
    v.field("peak_tflops", peak_tflops, "peak TFLOP/s for MFU; 0 = measure a matmul peak at start",
            rule::NonNegative{});
  }
  bool operator==(const HardwareConfig&) const = default;
};

struct RunConfig {
  ModelConfig model;
  ObjectiveConfig objective;
  DataConfig data;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  TrainingConfig training;
  EvalConfig eval;
  CheckpointConfig checkpoint;
  DistributedConfig distributed;
  LoggingConfig logging;
  HardwareConfig hardware;

  template <class V>
  void visit(V& v) {
    v.section("model", model, "transformer shape (shared by both objectives)");
    v.section("objective", objective, "training objective");
    v.section("data", data, "token store, sequence length and token budgets");
    v.section("optimizer", optimizer, "AdamW");
    v.section("schedule", schedule, "learning-rate schedule");
    v.section("training", training, "batching, seeds, failure handling");
    v.section("eval", eval, "validation loss and multiple-choice tasks");
    v.section("checkpoint", checkpoint, "checkpoint cadence and retention");
    v.section("distributed", distributed, "data parallelism and sharding");
    v.section("logging", logging, "console, train.log, metrics.jsonl and TensorBoard");
    v.section("hardware", hardware, "device, threads, precision");
  }
  bool operator==(const RunConfig&) const = default;
};

// Every config problem: the message names the file (or --set), the line and the key path.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads `path`, applies each `--set key.path=value` override, validates. Throws ConfigError.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The same from YAML text; `source` names it in errors.
RunConfig parse_config(const std::string& yaml_text, const std::string& source,
                       const std::vector<std::string>& overrides = {});
// Applies one `key.path=value` assignment with the same parsing and validation as the file.
void apply_override(RunConfig& config, const std::string& assignment);
// Cross-field checks (heads divide d_model, ...); throws ConfigError naming the key.
void validate(const RunConfig& config, const std::string& source = "config");
// The resolved config as YAML, each key with its documentation; parse_config(dump) == config.
std::string dump_config(const RunConfig& config, bool with_comments = true);
// Dotted key paths of every field, in declaration order, e.g. "optimizer.lr".
std::vector<std::string> config_keys();

// The configuration reference as Markdown (docs/configuration.md): a table per section with each
// key's default, what it accepts and its documentation, all from the config list above.
std::string config_reference();
// The YAML text of one key's value, e.g. config_value(c, "optimizer.lr") == "0.0003".
std::string config_value(const RunConfig& config, const std::string& key);
// Keys whose values differ between two configs, in declaration order.
std::vector<std::string> config_differences(const RunConfig& a, const RunConfig& b);

}  // namespace crossover
