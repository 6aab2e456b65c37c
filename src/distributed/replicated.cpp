// none and ddp: every rank holds the full fp32 parameters (one leaf tensor per group, so the
// gradient of a group is one flat buffer). ddp sums gradients over ranks in buckets of
// distributed.bucket_mb (grad_buckets.h), once per step. The loss weights are already normalised
// by the global batch, so the sum over ranks is the global-batch gradient (the same as averaging
// per-rank means). With distributed.recompute: full, each block keeps only its input and runs
// again in backward (CheckpointedBlock), as fsdp does. On the CPU with hardware.cpu_workers > 1
// a micro-batch's rows are split over worker threads (util/worker_pool.h).
//
// distributed.overlap_grad_reduce (ddp with a process group, one worker): every group reaches
// the graph through a GradTap, which in backward adds the group's gradient into its fp32 buffer
// itself (so autograd's AccumulateGrad gets nothing), and in the step's last micro-batch tells the
// buckets the group is final: a bucket's all-reduce starts while the backward of the layers below
// runs, and reduce_gradients only waits for what is still in flight. A tap is a graph node, not a
// hook on the leaf: LibTorch 1.13 has no post-accumulate hook, and a pre-hook cannot keep
// AccumulateGrad from adding. Each group's flat (its tap, or its copy in the compute dtype) is
// made just before the layer that uses it: autograd runs ready nodes latest-made first, so a
// node made before the forward would run only once the whole backward is done.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <algorithm>

#include "crossover/checkpoint/checkpoint_format.h"
#include "crossover/distributed/sharding.h"
#include "crossover/model/loss_head.h"
#include "crossover/optim/weight_decay.h"
#include "crossover/util/worker_pool.h"
#include "grad_buckets.h"
#include "strategies.h"

namespace crossover {

namespace {

// Adds the workers' gradients of a group into `into` in worker order: per element the same sums
// as one add_ per worker, in one pass over `into` (a chunk stays in cache while every part is
// added to it) rather than one per worker.
void add_in_order(at::Tensor& into, const std::vector<at::Tensor>& parts) {
  bool flat = into.is_contiguous() && into.scalar_type() == at::kFloat;
  for (const auto& p : parts) flat = flat && p.is_contiguous() && p.scalar_type() == at::kFloat;
  if (!flat) {
    for (const auto& p : parts) into.add_(p);
    return;
  }
  float* dst = into.data_ptr<float>();
  std::vector<const float*> src;
  for (const auto& p : parts) src.push_back(p.data_ptr<float>());
  at::parallel_for(0, into.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    for (const float* s : src)
      for (int64_t i = begin; i < end; ++i) dst[i] += s[i];
  });
}

// A block that saves only its input and parameters: no activations between forward and backward,
// the block runs again (with autograd) in backward.
struct CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& params, const Transformer* model, int64_t layer,
                            bool causal, DropoutKey dropout) {
    ctx->save_for_backward({x, params});
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(model);
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["causal"] = causal;
    save_dropout_key(ctx, dropout);
    return model->block(layer, params, x, causal, nullptr, CacheMode::Read, dropout);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto* model = reinterpret_cast<const Transformer*>(ctx->saved_data["model"].toInt());
    const auto saved = ctx->get_saved_variables();
    const at::Tensor x = saved[0].detach().set_requires_grad(true);
    const at::Tensor params = saved[1].detach().set_requires_grad(true);
    at::Tensor y;
    {
      at::AutoGradMode grad_mode(true);
      y = model->block(ctx->saved_data["layer"].toInt(), params, x,
                       ctx->saved_data["causal"].toBool(), nullptr, CacheMode::Read,
                       saved_dropout_key(ctx));
    }
    const auto grads = torch::autograd::grad({y}, {x, params}, {grad_out[0]});
    return {grads[0], grads[1], at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class Replicated;

// The identity on a group's fp32 leaf (or its copy in the compute dtype), whose backward hands
// the group's gradient to the owner instead of autograd's accumulation.
struct GradTap : public torch::autograd::Function<GradTap> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& leaf,
                            Replicated* owner, int64_t group, at::ScalarType dtype) {
    ctx->saved_data["owner"] = reinterpret_cast<int64_t>(owner);
    ctx->saved_data["group"] = group;
    return dtype == leaf.scalar_type() ? leaf : leaf.to(dtype);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out);
};

class Replicated final : public Sharding {
 public:
  Replicated(const ShardingOptions& o, const Transformer& model, const OptimizerConfig& opt,
             Comm& comm)
      : options_(o), model_(model), comm_(comm), adam_(opt) {
    for (const auto& g : model.layout().groups) {
      at::Tensor flat = at::zeros({g.numel},
                                  at::TensorOptions().dtype(at::kFloat).device(o.device));
      flat.set_requires_grad(true);
      flat.mutable_grad() = at::zeros_like(flat);
      masters_.push_back(flat);
      OptimizerSlot slot;
      slot.param = flat.detach();  // shares storage: updates land in the leaf
      slot.grad = flat.grad();
      slot.decay = decay_segments(g, opt, 0, g.numel);
      adam_.add_slot(std::move(slot));
    }
    if (o.cpu_workers > 1 && o.device.is_cpu())
      pool_ = std::make_unique<WorkerPool>(o.cpu_workers, o.threads_per_worker);
    if (o.kind == ShardingKind::kDdp && comm.has_process_group()) {
      std::vector<at::Tensor> grads;
      for (const auto& m : masters_) grads.push_back(m.grad());
      buckets_ = std::make_unique<GradBuckets>(grads, o.bucket_bytes, o.reduce_dtype, comm);
      // Workers build their graphs on leaves of their own, added up only after the backward.
      tapped_ = o.overlap_grad_reduce && !pool_;
    }
  }

  std::string name() const override { return to_string(options_.kind); }

  void init(uint64_t seed) override {
    at::NoGradGuard no_grad;
    const auto& groups = model_.layout().groups;
    for (size_t i = 0; i < groups.size(); ++i) {
      at::Tensor cpu = at::empty({groups[i].numel}, at::kFloat);
      init_group(groups[i], model_.config(), seed, cpu);
      masters_[i].detach().copy_(cpu);
    }
  }

  at::Tensor forward_backward(const Batch& batch, bool last) override {
    const int64_t parts = pool_ ? std::min<int64_t>(pool_->size(), batch.inputs.size(0)) : 1;
    if (parts > 1) return split_forward_backward(batch, parts);
    last_micro_batch_ = last;
    if (tapped_ && last) buckets_->begin_step(timer_);
    at::Tensor loss;
    {
      PhaseScope forward(timer_, Phase::kForward);
      loss = loss_of(masters_, batch, tapped_);
    }
    PhaseScope backward(timer_, Phase::kBackward);
    loss.backward();
    return loss.detach();
  }

  // With the overlap, the last backward has started every bucket (the embedding group's at its
  // very end): this waits for those in flight. Without it, each bucket starts and is waited here.
  void reduce_gradients() override {
    at::NoGradGuard no_grad;
    for (size_t g = 0; g < masters_.size(); ++g) adam_.slots()[g].grad = masters_[g].grad();
    if (!buckets_) return;
    PhaseScope comm(timer_, Phase::kComm);
    buckets_->finish(timer_, tapped_);
  }

  // GradTap's backward: group g's gradient from this micro-batch (in the compute dtype).
  void gradient_arrived(size_t g, const at::Tensor& grad) {
    at::NoGradGuard no_grad;
    masters_[g].mutable_grad().add_(grad);  // what AccumulateGrad does: the same sums
    if (last_micro_batch_) buckets_->ready(g, timer_);
  }

  // Every rank holds the same (reduced) gradients: rank 0 counts them once for all.
  at::Tensor grad_sq_share() override {
    if (comm_.rank() == 0) return adam_.local_grad_sq();
    return at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(options_.device));
  }
  AdamW& optimizer() override { return adam_; }

  std::vector<at::Tensor> full_flats(at::ScalarType dtype) override {
    std::vector<at::Tensor> out;
    for (const auto& m : masters_) out.push_back(m.detach().to(dtype));
    return out;
  }

  FileChecksums save(const std::string& dir) override {
    if (comm_.rank() != 0) return {};
    std::vector<at::Tensor> p, m, v;
    for (const auto& s : adam_.slots()) {
      p.push_back(s.param);
      m.push_back(s.exp_avg);
      v.push_back(s.exp_avg_sq);
    }
    return write_full_checkpoint(dir, model_.layout(), p, m, v);
  }

  void snapshot(CheckpointSnapshot& into) override {
    into.files = comm_.rank() == 0 ? CheckpointSnapshot::Files::kFull
                                   : CheckpointSnapshot::Files::kNone;
    if (comm_.rank() != 0) return;  // rank 0 writes the one full copy
    copy_slots(adam_, into);
  }

  nlohmann::json checkpoint_format() const override { return CheckpointFormat{}.to_json(); }

  void load(const std::string& dir, const nlohmann::json& state) override {
    at::NoGradGuard no_grad;
    const auto& groups = model_.layout().groups;
    for (size_t g = 0; g < groups.size(); ++g) {
      auto& s = adam_.slots()[g];
      s.param.copy_(
          read_checkpoint_range(dir, state, model_.layout(), g, "param", 0, groups[g].numel));
      s.exp_avg.copy_(
          read_checkpoint_range(dir, state, model_.layout(), g, "exp_avg", 0, groups[g].numel));
      s.exp_avg_sq.copy_(
          read_checkpoint_range(dir, state, model_.layout(), g, "exp_avg_sq", 0, groups[g].numel));
    }
  }

  MemoryReport memory() const override {
    const int64_t n = model_.layout().total_numel();
    return {n * 4, n * 4, 2 * n * 4, 0};
  }

 private:
  // The micro-batch's loss on parameters `leaves` (the masters or leaves sharing their storage):
  // objective's batch_loss, with each group's flat made just before the layer using it runs (through a
  // GradTap when `tapped`), and every block checkpointed with recompute.
  at::Tensor loss_of(const std::vector<at::Tensor>& leaves, const Batch& batch, bool tapped) {
    const at::ScalarType dtype = options_.compute_dtype;
    auto flat = [&](size_t g) -> at::Tensor {
      if (tapped) return GradTap::apply(leaves[g], this, static_cast<int64_t>(g), dtype);
      return dtype == at::kFloat ? leaves[g] : leaves[g].to(dtype);
    };
    const at::Tensor embed = flat(0);
    at::Tensor x = model_.embed(embed, batch.inputs.to(options_.device));
    for (int64_t i = 0; i < model_.config().layers; ++i) {
      const at::Tensor params = flat(1 + i);
      x = options_.recompute
              ? CheckpointedBlock::apply(x, params, &model_, i, batch.causal, batch.dropout)
              : model_.block(i, params, x, batch.causal, nullptr, CacheMode::Read, batch.dropout);
    }
    return head_loss(model_, embed, model_.final_norm(embed, x), batch);
  }

  // The rows split into `parts` contiguous slices, one per worker. Each worker builds its
  // slice's graph on its own leaves (sharing the masters' storage), so no gradient is written
  // by two threads; forward and backward are separate rounds, so both phases are timed. The
  // slices' gradients are added to the masters' in slice order: the sum does not depend on
  // which worker finished first.
  at::Tensor split_forward_backward(const Batch& batch, int64_t parts) {
    const int64_t rows = batch.inputs.size(0);
    std::vector<std::vector<at::Tensor>> leaves(parts);
    std::vector<at::Tensor> losses(parts);
    std::vector<std::function<void()>> jobs;
    for (int64_t w = 0; w < parts; ++w)
      jobs.push_back([&, w] {
        const int64_t begin = rows * w / parts, end = rows * (w + 1) / parts;
        for (const auto& m : masters_) leaves[w].push_back(m.detach().set_requires_grad(true));
        losses[w] = loss_of(leaves[w], batch_rows(batch, begin, end - begin), false);
      });
    {
      PhaseScope forward(timer_, Phase::kForward);
      pool_->run(jobs);
    }
    PhaseScope backward(timer_, Phase::kBackward);
    for (int64_t w = 0; w < parts; ++w) jobs[w] = [&, w] { losses[w].backward(); };
    pool_->run(jobs);
    at::NoGradGuard no_grad;
    for (size_t g = 0; g < masters_.size(); ++g) {
      std::vector<at::Tensor> grads;
      for (int64_t w = 0; w < parts; ++w)
        if (leaves[w][g].grad().defined()) grads.push_back(leaves[w][g].grad());
      add_in_order(masters_[g].mutable_grad(), grads);
    }
    return at::stack(losses).sum();
  }

  ShardingOptions options_;
  const Transformer& model_;
  Comm& comm_;
  AdamW adam_;
  std::vector<at::Tensor> masters_;
  std::unique_ptr<WorkerPool> pool_;      // CPU batch workers (none when cpu_workers <= 1)
  std::unique_ptr<GradBuckets> buckets_;  // ddp with a process group
  bool tapped_ = false;                   // gradients through GradTap, reduced as they complete
  bool last_micro_batch_ = false;
};

torch::autograd::variable_list GradTap::backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
  auto* owner = reinterpret_cast<Replicated*>(ctx->saved_data["owner"].toInt());
  owner->gradient_arrived(static_cast<size_t>(ctx->saved_data["group"].toInt()), grad_out[0]);
  return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
}

}  // namespace

std::unique_ptr<Sharding> make_replicated(const ShardingOptions& o, const Transformer& model,
                                          const OptimizerConfig& opt, Comm& comm) {
  return std::make_unique<Replicated>(o, model, opt, comm);
}

}  // namespace crossover
