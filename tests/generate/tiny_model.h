// A randomly initialised tiny transformer for the generation tests: built in-process in
// microseconds, no training needed (the samplers' contracts do not depend on the weights).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "crossover/model/layout.h"
#include "crossover/model/transformer.h"

namespace crossover::testing {

struct TinyModel {
  std::unique_ptr<Transformer> model;
  std::vector<at::Tensor> flats;
};

// vocab predictable tokens ([MASK] = vocab), positions up to max_seq_len.
inline TinyModel tiny_model(int64_t vocab = 50, int64_t max_seq_len = 48, uint64_t seed = 7) {
  ModelConfig m;
  m.layers = 2;
  m.d_model = 32;
  m.heads = 4;
  m.kv_heads = 2;
  // A wider init than training's 0.02 spreads the logits, so greedy choices are not near-ties
  // that float rounding could flip between two equivalent computations.
  m.init_std = 0.2;
  TinyModel t;
  t.model = std::make_unique<Transformer>(m, vocab, max_seq_len);
  for (const auto& g : t.model->layout().groups) {
    at::Tensor f = at::empty({g.numel});
    init_group(g, m, seed, f);
    t.flats.push_back(f);
  }
  return t;
}

}  // namespace crossover::testing
