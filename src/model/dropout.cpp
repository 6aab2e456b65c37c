#include "crossover/model/dropout.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <stdexcept>

#include "crossover/kernels/philox.h"

namespace crossover {

namespace {
// Streams above the objective's (kernels/philox.h uses 0-1, objective.cpp 2-3): three sites
// per layer. The stream word also carries bits of large rows and steps from bit 8 up, so layers
// beyond 80 would share streams with them; the model checks its depth.
constexpr uint32_t kFirstDropoutStream = 16;
constexpr int64_t kMaxLayers = (256 - kFirstDropoutStream) / 3;
}  // namespace

at::Tensor dropout_scale(const DropoutKey& key, int64_t layer, DropoutSite site, int64_t rows,
                         int64_t n, double p) {
  if (layer < 0 || layer >= kMaxLayers)
    throw std::invalid_argument("dropout: layer " + std::to_string(layer) + " beyond the " +
                                std::to_string(kMaxLayers) + " layers the mask streams cover");
  const uint32_t stream = kFirstDropoutStream + static_cast<uint32_t>(layer) * 3 +
                          static_cast<uint32_t>(site);
  const float threshold = static_cast<float>(p);  // dropped when uniform < p
  const float keep_scale = static_cast<float>(1.0 / (1.0 - p));
  at::Tensor out = at::empty({rows, n}, at::kFloat);
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint64_t row = static_cast<uint64_t>(key.global_row0 + r);
      for (int64_t j = 0; j < n; j += 4) {
        const auto bits = kernels::token_bits(key.seed, static_cast<uint64_t>(key.step), row,
                                              static_cast<uint32_t>(j / 4), stream);
        for (int64_t k = 0; k < 4 && j + k < n; ++k)
          o[r * n + j + k] = kernels::uniform_from_bits(bits.v[k]) < threshold ? 0.0f : keep_scale;
      }
    }
  });
  return out;
}

at::Tensor dropout(const at::Tensor& x, double p, const DropoutKey& key, int64_t layer,
                   DropoutSite site) {
  if (!key.active || p <= 0) return x;
  const int64_t rows = x.size(0), n = x.numel() / rows;
  const at::Tensor scale =
      dropout_scale(key, layer, site, rows, n, p).to(x.device()).to(x.scalar_type());
  return x * scale.view(x.sizes());
}

}  // namespace crossover
