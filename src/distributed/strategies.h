// The sharding strategies behind make_sharding (distributed/sharding.h), one per file.
#pragma once

#include <torch/csrc/autograd/custom_function.h>

#include <memory>

#include "crossover/distributed/sharding.h"
#include "crossover/model/dropout.h"

namespace crossover {

// none and ddp (replicated.cpp).
std::unique_ptr<Sharding> make_replicated(const ShardingOptions& o, const Transformer& model,
                                          const OptimizerConfig& opt, Comm& comm);
// fsdp (fsdp.cpp).
std::unique_ptr<Sharding> make_fully_sharded(const ShardingOptions& o, const Transformer& model,
                                             const OptimizerConfig& opt, Comm& comm);

// A block that runs again in backward must draw its forward's dropout masks: the micro-batch's
// key travels in the autograd Function's saved data.
// Copies this process's optimizer slots (values and moments) into a checkpoint snapshot.
inline void copy_slots(const AdamW& adam, CheckpointSnapshot& into) {
  std::vector<at::Tensor> p, m, v;
  for (const auto& s : adam.slots()) {
    p.push_back(s.param);
    m.push_back(s.exp_avg);
    v.push_back(s.exp_avg_sq);
  }
  into.copy_from(p, m, v);
}

inline void save_dropout_key(torch::autograd::AutogradContext* ctx, const DropoutKey& key) {
  ctx->saved_data["dropout_active"] = key.active;
  ctx->saved_data["dropout_seed"] = static_cast<int64_t>(key.seed);
  ctx->saved_data["dropout_step"] = key.step;
  ctx->saved_data["dropout_row0"] = key.global_row0;
}
inline DropoutKey saved_dropout_key(torch::autograd::AutogradContext* ctx) {
  return DropoutKey{ctx->saved_data["dropout_active"].toBool(),
                    static_cast<uint64_t>(ctx->saved_data["dropout_seed"].toInt()),
                    ctx->saved_data["dropout_step"].toInt(),
                    ctx->saved_data["dropout_row0"].toInt()};
}

}  // namespace crossover
