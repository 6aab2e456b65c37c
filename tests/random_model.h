// A random model with a large init scale for tests of scoring: its predictions are far from
// uniform and depend strongly on the context and on which tokens are masked, so comparisons
// against exact references have teeth. `zero` gives all-zero weights: uniform predictions.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "crossover/model/layout.h"
#include "crossover/model/transformer.h"

namespace crossover::testing {

struct RandomModel {
  std::unique_ptr<Transformer> model;
  std::vector<at::Tensor> flats;
  RandomModel(uint64_t seed, int64_t vocab, int64_t max_len, bool zero = false) {
    ModelConfig mc;
    mc.layers = 2;
    mc.d_model = 32;
    mc.heads = 4;
    mc.init_std = 0.5;
    model = std::make_unique<Transformer>(mc, vocab, max_len);
    for (const auto& g : model->layout().groups) {
      at::Tensor f = at::empty({g.numel}, at::kFloat);
      init_group(g, mc, seed, f);
      if (zero) f.zero_();
      flats.push_back(f);
    }
  }
  // log_softmax of the full logits for one sequence [T] -> [T, V].
  at::Tensor log_probs(const at::Tensor& ids, bool causal) const {
    return at::log_softmax(model->logits(flats[0], model->hidden(flats, ids.view({1, -1}), causal)),
                           -1)[0];
  }
  at::Tensor log_probs(const std::vector<int64_t>& ids, bool causal) const {
    return log_probs(at::tensor(ids, at::kLong), causal);
  }
};

}  // namespace crossover::testing
