#include "crossover/optim/weight_decay.h"

#include <algorithm>

namespace crossover {

bool decays(ParamKind kind, const OptimizerConfig& config) {
  switch (kind) {
    case ParamKind::Matrix: return true;
    case ParamKind::Norm: return config.decay_norms;
    case ParamKind::Embedding: return config.decay_embeddings;
  }
  return true;
}

std::vector<DecaySegment> decay_segments(const GroupLayout& group, const OptimizerConfig& config,
                                         int64_t lo, int64_t hi) {
  std::vector<DecaySegment> segs;
  for (const auto& p : group.params) {
    if (!decays(p.kind, config)) continue;
    const int64_t a = std::max(lo, p.offset), b = std::min(hi, p.offset + p.numel);
    if (a >= b) continue;
    if (!segs.empty() && segs.back().offset + segs.back().length == a - lo)
      segs.back().length += b - a;  // merge neighbours: fewer kernel launches
    else segs.push_back({a - lo, b - a});
  }
  return segs;
}

}  // namespace crossover
