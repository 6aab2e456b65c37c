// Parameter layout: the model's parameters live in a few flat fp32 buffers ("groups"): group 0
// holds the token embedding (with its extra [MASK] row), the final norm and an untied LM head;
// group 1 + i holds transformer block i. Each parameter is a view into its group's buffer.
// Flat groups make data parallelism simple: a DDP bucket, an FSDP shard and an optimizer slot
// are all slices of one buffer, and a checkpoint can be resharded by slicing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "crossover/config/config.h"

namespace crossover {

enum class Init { Normal, NormalResidual, Ones };

// What a parameter is. The model says what each tensor is; whether weight decay applies to it is
// the optimizer's policy (optim/weight_decay.h).
enum class ParamKind { Matrix, Norm, Embedding };

struct ParamSpec {
  std::string name;  // e.g. "blocks.3.attn.wq"; also the checkpoint tensor name
  std::vector<int64_t> shape;
  int64_t offset = 0;  // within the group's flat buffer
  int64_t numel = 0;
  ParamKind kind = ParamKind::Matrix;
  Init init = Init::Normal;
};

struct GroupLayout {
  std::string name;  // "embed", "blocks.0", ...
  std::vector<ParamSpec> params;
  int64_t numel = 0;
  const ParamSpec& find(const std::string& short_name) const;  // by suffix after the prefix
};

struct ModelLayout {
  std::vector<GroupLayout> groups;
  int64_t total_numel() const;
};

// vocab: predictable tokens; the embedding has vocab + 1 rows ([MASK] is row `vocab`).
ModelLayout make_layout(const ModelConfig& m, int64_t vocab);

// Fills a group's full flat buffer with its initial values: N(0, init_std) matrices, residual
// output projections N(0, init_std / sqrt(2 layers)), norms 1. Each parameter has its own
// generator seeded by (seed, name), so initialisation does not depend on device, world size or
// the order groups are built in.
void init_group(const GroupLayout& g, const ModelConfig& m, uint64_t seed, at::Tensor flat);

// A view of one parameter inside a flat buffer (any dtype/device).
at::Tensor param_view(const at::Tensor& flat, const ParamSpec& p);

}  // namespace crossover
