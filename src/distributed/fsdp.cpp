// fsdp (ZeRO-3 per block). Each parameter group (the embedding group and every transformer
// block) is one flat buffer, padded to world x shard elements; rank r keeps elements
// [r shard, (r + 1) shard) as its fp32 master, with its gradient and Adam moments. So parameter,
// gradient and optimizer memory are 1/world of the model, plus the full blocks that exist only
// while they are needed:
//   forward:  all-gather block i (block i + 1's gather is already in flight), run it, then
//             - recompute: full (the default) — keep only its input and free the parameters;
//             - recompute: none — keep its activations and full parameters until its backward;
//   backward: (full) all-gather block i again (i - 1 prefetched) and recompute it with autograd;
//             take the gradients of its input and of its full parameters, and start the
//             reduce-scatter of the latter into this rank's shard without waiting for it.
// A reduce-scatter is not waited for when it starts: it overlaps the backward of the next two
// blocks below, and is waited on when the reduction two blocks further down starts (so at most
// two full-size buffers are in flight), before the optimizer step (reduce_gradients), or when the
// same group's next one starts. With grad_reduce: step, the micro-batches before the last add their full
// gradients into one fp32 buffer per group and only the last micro-batch reduce-scatters.
// One autograd Function per block does this. The embedding group is gathered once per micro-batch
// (its gather prefetched at the end of the previous one), and its gradient reduce-scattered
// after the backward, overlapping the reduce-scatters still in flight.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <map>

#include "crossover/checkpoint/checkpoint_format.h"
#include "crossover/distributed/sharding.h"
#include "crossover/model/loss_head.h"
#include "crossover/optim/weight_decay.h"
#include "strategies.h"

namespace crossover {

namespace {

class FullySharded;

// Blocks run through this Function: the block's full parameters come from the owner's gathers and
// its parameter gradient goes to the owner's reduce-scatter, never through autograd's .grad.
struct ShardedBlock : public torch::autograd::Function<ShardedBlock> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& shard, FullySharded* owner, int64_t layer,
                            bool causal, DropoutKey dropout);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out);
};

class FullySharded final : public Sharding {
 public:
  FullySharded(const ShardingOptions& o, const Transformer& model, const OptimizerConfig& opt,
               Comm& comm)
      : options_(o), model_(model), comm_(comm), adam_(opt) {
    const int64_t world = comm.world_size(), rank = comm.rank();
    for (const auto& g : model.layout().groups) {
      const int64_t shard = (g.numel + world - 1) / world;
      at::Tensor master = at::zeros({shard},
                                    at::TensorOptions().dtype(at::kFloat).device(o.device));
      master.set_requires_grad(true);
      master.mutable_grad() = at::zeros_like(master);
      shards_.push_back(shard);
      masters_.push_back(master);
      OptimizerSlot slot;
      slot.param = master.detach();
      slot.grad = master.grad();
      slot.decay = decay_segments(g, opt, rank * shard, (rank + 1) * shard);  // this rank's part
      adam_.add_slot(std::move(slot));
    }
    accumulated_.resize(masters_.size());
  }

  std::string name() const override { return "fsdp"; }

  void init(uint64_t seed) override {
    at::NoGradGuard no_grad;
    const auto& groups = model_.layout().groups;
    for (size_t i = 0; i < groups.size(); ++i) {
      at::Tensor full = at::zeros({shards_[i] * comm_.world_size()}, at::kFloat);
      init_group(groups[i], model_.config(), seed, full);
      masters_[i].detach().copy_(full.narrow(0, comm_.rank() * shards_[i], shards_[i]));
    }
  }

  // Full parameters of group g in the compute dtype: waits for a prefetched gather or starts one.
  at::Tensor gather(size_t g) {
    auto it = inflight_.find(g);
    if (it == inflight_.end()) {
      prefetch(g);
      it = inflight_.find(g);
    }
    {
      PhaseScope comm(timer_, Phase::kComm);
      it->second.pending->wait();
    }
    at::Tensor full = it->second.buffer.narrow(0, 0, model_.layout().groups[g].numel);
    inflight_.erase(it);
    return full;
  }

  void prefetch(size_t g) {
    if (g >= masters_.size() || inflight_.count(g)) return;
    at::NoGradGuard no_grad;
    Inflight f;
    f.shard = masters_[g].detach().to(options_.compute_dtype).contiguous();
    f.buffer = at::empty({shards_[g] * comm_.world_size()}, f.shard.options());
    f.pending = comm_.all_gather_async(f.shard, f.buffer);
    inflight_.emplace(g, std::move(f));
  }

  // The full gradient of group g from this micro-batch: summed over ranks into this rank's
  // shard, by a reduce-scatter started now (or, with grad_reduce: step before the last
  // micro-batch, added into the group's full fp32 buffer).
  void reduce_gradient(size_t g, const at::Tensor& full_grad) {
    at::NoGradGuard no_grad;
    finish_reduce(g);  // this group's previous reduce-scatter, whose buffer is reused below
    const int64_t padded = shards_[g] * comm_.world_size();
    at::Tensor& acc = accumulated_[g];
    if (options_.reduce_per_step && (!last_micro_batch_ || acc.defined())) {
      if (!acc.defined()) acc = at::zeros({padded}, full_grad.options().dtype(at::kFloat));
      acc.narrow(0, 0, full_grad.numel()).add_(full_grad.reshape({-1}));
      if (!last_micro_batch_) return;
    }
    Reduction r;
    if (acc.defined() && options_.reduce_dtype == at::kFloat) {
      r.full = acc;  // reduced in place of a copy; zeroed once the reduce-scatter is done
    } else {
      r.full = at::zeros({padded}, full_grad.options().dtype(options_.reduce_dtype));
      r.full.narrow(0, 0, full_grad.numel())
          .copy_(acc.defined() ? acc.narrow(0, 0, full_grad.numel()) : full_grad.reshape({-1}));
      if (acc.defined()) acc.zero_();
    }
    r.shard = at::empty({shards_[g]}, r.full.options());
    r.pending = comm_.reduce_scatter_sum_async(r.full, r.shard);
    reductions_.emplace(g, std::move(r));
    // At most two in flight: the backward runs from the last block down, so group g + 2's
    // reduction has had the backward of two blocks to finish; waiting for it now frees its
    // full-size buffer instead of holding one per block to the end of the backward.
    while (!reductions_.empty() && reductions_.rbegin()->first >= g + 2)
      finish_reduce(reductions_.rbegin()->first);
  }

  // Waits for group g's reduce-scatter, if one is in flight, and adds it to the group's gradient.
  void finish_reduce(size_t g) {
    auto it = reductions_.find(g);
    if (it == reductions_.end()) return;
    {
      PhaseScope comm(timer_, Phase::kComm);
      it->second.pending->wait();
    }
    at::NoGradGuard no_grad;
    masters_[g].mutable_grad().add_(it->second.shard);
    if (accumulated_[g].defined() && it->second.full.is_same(accumulated_[g]))
      accumulated_[g].zero_();
    reductions_.erase(it);
  }

  at::Tensor forward_backward(const Batch& batch, bool last) override {
    const at::Device device = options_.device;
    last_micro_batch_ = last;
    at::Tensor embed, loss;
    {
      PhaseScope forward(timer_, Phase::kForward);
      // The embedding group: gathered once, a leaf of this micro-batch's graph.
      embed = gather(0).detach().set_requires_grad(true);
      prefetch(1);
      at::Tensor x = model_.embed(embed, batch.inputs.to(device));
      for (int64_t i = 0; i < model_.config().layers; ++i)
        x = ShardedBlock::apply(x, masters_[1 + i], this, i, batch.causal, batch.dropout);
      loss = head_loss(model_, embed, model_.final_norm(embed, x), batch);
    }
    {
      PhaseScope backward(timer_, Phase::kBackward);
      loss.backward();
      reduce_gradient(0, embed.grad());
    }
    // The next micro-batch's embedding group travels while this rank returns; the last
    // micro-batch's does not (the optimizer is about to change the parameters).
    if (!last) prefetch(0);
    return loss.detach();
  }

  void reduce_gradients() override {
    for (size_t g = 0; g < masters_.size(); ++g) {
      finish_reduce(g);
      adam_.slots()[g].grad = masters_[g].grad();
    }
  }

  at::Tensor grad_sq_share() override { return adam_.local_grad_sq(); }  // this rank's shards
  AdamW& optimizer() override { return adam_; }

  std::vector<at::Tensor> full_flats(at::ScalarType dtype) override {
    std::vector<at::Tensor> out;
    for (size_t g = 0; g < masters_.size(); ++g) {
      at::NoGradGuard no_grad;
      const at::Tensor shard = masters_[g].detach().to(dtype).contiguous();
      at::Tensor full = at::empty({shards_[g] * comm_.world_size()}, shard.options());
      comm_.all_gather(shard, full);
      out.push_back(full.narrow(0, 0, model_.layout().groups[g].numel));
    }
    return out;
  }

  FileChecksums save(const std::string& dir) override {
    std::vector<at::Tensor> p, m, v;
    for (const auto& s : adam_.slots()) {
      p.push_back(s.param);
      m.push_back(s.exp_avg);
      v.push_back(s.exp_avg_sq);
    }
    return write_sharded_checkpoint(dir, model_.layout(), comm_.rank(), comm_.world_size(), p, m,
                                    v);
  }

  void snapshot(CheckpointSnapshot& into) override {
    into.files = CheckpointSnapshot::Files::kSharded;
    into.rank = comm_.rank();
    into.world = comm_.world_size();
    copy_slots(adam_, into);
  }

  nlohmann::json checkpoint_format() const override {
    CheckpointFormat format;
    format.sharded = true;
    format.world_size = comm_.world_size();
    const auto& layout = model_.layout().groups;
    for (size_t g = 0; g < layout.size(); ++g)
      format.groups.push_back({layout[g].name, layout[g].numel, shards_[g]});
    return format.to_json();
  }

  void load(const std::string& dir, const nlohmann::json& state) override {
    at::NoGradGuard no_grad;
    const auto& groups = model_.layout().groups;
    for (size_t g = 0; g < groups.size(); ++g) {
      const int64_t lo = comm_.rank() * shards_[g];
      const int64_t count = std::max<int64_t>(0, std::min(shards_[g], groups[g].numel - lo));
      auto& s = adam_.slots()[g];
      for (auto [kind, dst] :
           {std::pair{"param", &s.param}, {"exp_avg", &s.exp_avg}, {"exp_avg_sq", &s.exp_avg_sq}}) {
        dst->zero_();
        if (count > 0)
          dst->narrow(0, 0, count)
              .copy_(read_checkpoint_range(dir, state, model_.layout(), g, kind, lo, count));
      }
    }
  }

  MemoryReport memory() const override {
    int64_t shard_total = 0, largest = 0;
    for (size_t g = 0; g < shards_.size(); ++g) {
      shard_total += shards_[g];
      largest = std::max(largest, shards_[g] * comm_.world_size());
    }
    const int64_t esize = at::elementSize(options_.compute_dtype);
    // The embedding group for the whole micro-batch, plus a running block and its prefetch; or,
    // without recompute, every block from its forward to its backward.
    const int64_t gathered = options_.recompute
                                 ? (shards_[0] * comm_.world_size() + 2 * largest) * esize
                                 : shard_total * comm_.world_size() * esize;
    // Gradients: the fp32 shards, the reductions in flight (two full groups in the reduce
    // dtype, and on Gloo a copy each), and with grad_reduce: step a full fp32 buffer per group.
    const int64_t in_flight = 2 * largest * at::elementSize(options_.reduce_dtype) *
                              (comm_.backend() == "gloo" ? 2 : 1);
    const int64_t per_step = options_.reduce_per_step ? shard_total * comm_.world_size() * 4 : 0;
    return {shard_total * 4, shard_total * 4 + in_flight + per_step, 2 * shard_total * 4, gathered};
  }

  const Transformer& model() const { return model_; }
  bool recompute() const { return options_.recompute; }

 private:
  struct Inflight {
    at::Tensor shard, buffer;
    std::unique_ptr<Pending> pending;
  };
  struct Reduction {
    at::Tensor full, shard;  // the reduce-scatter's input (kept alive until it is done) and output
    std::unique_ptr<Pending> pending;
  };
  ShardingOptions options_;
  const Transformer& model_;
  Comm& comm_;
  AdamW adam_;
  std::vector<int64_t> shards_;
  std::vector<at::Tensor> masters_;
  std::map<size_t, Inflight> inflight_;
  std::map<size_t, Reduction> reductions_;
  std::vector<at::Tensor> accumulated_;  // grad_reduce: step, per group (allocated on first use)
  bool last_micro_batch_ = true;
};

at::Tensor ShardedBlock::forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                                 const at::Tensor& shard, FullySharded* owner, int64_t layer,
                                 bool causal, DropoutKey dropout) {
  const at::Tensor full = owner->gather(1 + layer);
  owner->prefetch(2 + layer);  // the next block's parameters travel while this one computes
  ctx->saved_data["owner"] = reinterpret_cast<int64_t>(owner);
  ctx->saved_data["layer"] = layer;
  ctx->saved_data["causal"] = causal;
  if (owner->recompute()) {
    ctx->save_for_backward({x});
    save_dropout_key(ctx, dropout);
    return owner->model().block(layer, full, x, causal, nullptr, CacheMode::Read, dropout);
  }
  // Kept: the block's own graph (activations and full parameters) lives in the context until
  // backward, outside the outer graph, so its parameter gradient never lands in a .grad.
  const at::Tensor x_in = x.detach().set_requires_grad(true);
  const at::Tensor params = full.detach().set_requires_grad(true);
  at::Tensor y;
  {
    at::AutoGradMode grad_mode(true);
    y = owner->model().block(layer, params, x_in, causal, nullptr, CacheMode::Read, dropout);
  }
  ctx->saved_data["y"] = y;
  ctx->saved_data["x"] = x_in;
  ctx->saved_data["params"] = params;
  return y.detach();
}

torch::autograd::variable_list ShardedBlock::backward(torch::autograd::AutogradContext* ctx,
                                                      torch::autograd::variable_list grad_out) {
  auto* owner = reinterpret_cast<FullySharded*>(ctx->saved_data["owner"].toInt());
  const int64_t layer = ctx->saved_data["layer"].toInt();
  at::Tensor x, params, y;
  if (owner->recompute()) {
    const bool causal = ctx->saved_data["causal"].toBool();
    x = ctx->get_saved_variables()[0].detach().set_requires_grad(true);
    params = owner->gather(1 + layer).detach().set_requires_grad(true);
    if (layer > 0) owner->prefetch(layer);  // block layer - 1 is next in the backward
    at::AutoGradMode grad_mode(true);
    y = owner->model().block(layer, params, x, causal, nullptr, CacheMode::Read,
                             saved_dropout_key(ctx));
  } else {
    x = ctx->saved_data["x"].toTensor();
    params = ctx->saved_data["params"].toTensor();
    y = ctx->saved_data["y"].toTensor();
  }
  const auto grads = torch::autograd::grad({y}, {x, params}, {grad_out[0]});
  if (!owner->recompute()) ctx->saved_data.clear();  // the block's graph and parameters go now
  owner->reduce_gradient(1 + layer, grads[1]);
  return {grads[0], at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
}

}  // namespace

std::unique_ptr<Sharding> make_fully_sharded(const ShardingOptions& o, const Transformer& model,
                                             const OptimizerConfig& opt, Comm& comm) {
  return std::make_unique<FullySharded>(o, model, opt, comm);
}

}  // namespace crossover
