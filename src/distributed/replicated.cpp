// none and ddp: every rank holds the full fp32 parameters (one leaf tensor per group, so the
// gradient of a group is one flat buffer). ddp sums gradients over ranks in buckets of
// distributed.bucket_mb after the last micro-batch. The loss weights are already normalised by
// the global batch, so the sum over ranks is the global-batch gradient (the same as averaging
// per-rank means).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "crossover/checkpoint/checkpoint_format.h"
#include "crossover/distributed/sharding.h"
#include "strategies.h"

namespace crossover {

namespace {

std::vector<DecaySegment> decay_segments(const GroupLayout& g) {
  std::vector<DecaySegment> segs;
  for (const auto& p : g.params) {
    if (!p.decay) continue;
    if (!segs.empty() && segs.back().offset + segs.back().length == p.offset)
      segs.back().length += p.numel;  // merge neighbours: fewer kernel launches
    else
      segs.push_back({p.offset, p.numel});
  }
  return segs;
}

class Replicated final : public Sharding {
 public:
  Replicated(const ShardingOptions& o, const Transformer& model, const OptimizerConfig& opt,
             Comm& comm)
      : options_(o), model_(model), comm_(comm), adam_(opt) {
    for (const auto& g : model.layout().groups) {
      at::Tensor flat = at::zeros({g.numel}, at::TensorOptions().dtype(at::kFloat).device(o.device));
      flat.set_requires_grad(true);
      flat.mutable_grad() = at::zeros_like(flat);
      masters_.push_back(flat);
      OptimizerSlot slot;
      slot.param = flat.detach();  // shares storage: updates land in the leaf
      slot.grad = flat.grad();
      slot.decay = decay_segments(g);
      adam_.add_slot(std::move(slot));
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

  at::Tensor forward_backward(const Batch& batch) override {
    std::vector<at::Tensor> flats;
    for (const auto& m : masters_)
      flats.push_back(options_.compute_dtype == at::kFloat ? m : m.to(options_.compute_dtype));
    at::Tensor loss = batch_loss(model_, flats, batch);
    loss.backward();
    return loss.detach();
  }

  void reduce_gradients() override {
    at::NoGradGuard no_grad;
    for (size_t g = 0; g < masters_.size(); ++g) adam_.slots()[g].grad = masters_[g].grad();
    if (options_.kind != ShardingKind::kDdp || comm_.world_size() == 1) return;
    // Buckets of consecutive groups; a group larger than a bucket goes alone, in place.
    std::vector<at::Tensor> bucket;
    int64_t bytes = 0;
    auto flush = [&] {
      if (bucket.empty()) return;
      if (bucket.size() == 1) {
        comm_.all_reduce_sum(bucket[0]);
      } else {
        at::Tensor joined = at::cat(bucket);
        comm_.all_reduce_sum(joined);
        int64_t offset = 0;
        for (auto& g : bucket) {
          g.copy_(joined.narrow(0, offset, g.numel()));
          offset += g.numel();
        }
      }
      bucket.clear();
      bytes = 0;
    };
    for (auto& s : adam_.slots()) {
      bucket.push_back(s.grad);
      bytes += s.grad.numel() * 4;
      if (bytes >= options_.bucket_bytes) flush();
    }
    flush();
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

  nlohmann::json checkpoint_format() const override { return CheckpointFormat{}.to_json(); }

  void load(const std::string& dir, const nlohmann::json& state) override {
    at::NoGradGuard no_grad;
    const auto& groups = model_.layout().groups;
    for (size_t g = 0; g < groups.size(); ++g) {
      auto& s = adam_.slots()[g];
      s.param.copy_(read_checkpoint_range(dir, state, model_.layout(), g, "param", 0, groups[g].numel));
      s.exp_avg.copy_(read_checkpoint_range(dir, state, model_.layout(), g, "exp_avg", 0, groups[g].numel));
      s.exp_avg_sq.copy_(
          read_checkpoint_range(dir, state, model_.layout(), g, "exp_avg_sq", 0, groups[g].numel));
    }
  }

  MemoryReport memory() const override {
    const int64_t n = model_.layout().total_numel();
    return {n * 4, n * 4, 2 * n * 4, 0};
  }

 private:
  ShardingOptions options_;
  const Transformer& model_;
  Comm& comm_;
  AdamW adam_;
  std::vector<at::Tensor> masters_;
};

}  // namespace

std::unique_ptr<Sharding> make_replicated(const ShardingOptions& o, const Transformer& model,
                                          const OptimizerConfig& opt, Comm& comm) {
  return std::make_unique<Replicated>(o, model, opt, comm);
}

}  // namespace crossover
