#include "crossover/model/dropout.h"

#include <ATen/ATen.h>

#include <stdexcept>

#include "crossover/kernels/ops.h"

namespace crossover {

namespace {
// Streams above the objective's (kernels/philox.h uses 0-1, objective.cpp 2-3): three sites
// per layer. The stream word also carries bits of large rows and steps from bit 8 up, so layers
// beyond 80 would share streams with them; the model checks its depth.
constexpr uint32_t kFirstDropoutStream = 16;
constexpr int64_t kMaxLayers = (256 - kFirstDropoutStream) / 3;
}  // namespace

at::Tensor dropout_scale(const DropoutKey& key, int64_t layer, DropoutSite site, int64_t rows,
                         int64_t n, double p, at::Device device) {
  if (layer < 0 || layer >= kMaxLayers)
    throw std::invalid_argument("dropout: layer " + std::to_string(layer) + " beyond the " +
                                std::to_string(kMaxLayers) + " layers the mask streams cover");
  kernels::DropoutParams params;
  params.seed = key.seed;
  params.step = static_cast<uint64_t>(key.step);
  params.row0 = key.global_row0;
  params.stream = kFirstDropoutStream + static_cast<uint32_t>(layer) * 3 +
                  static_cast<uint32_t>(site);
  params.p = static_cast<float>(p);
  params.keep_scale = static_cast<float>(1.0 / (1.0 - p));
  return ops::dropout_scale(params, rows, n, device);
}

at::Tensor dropout(const at::Tensor& x, double p, const DropoutKey& key, int64_t layer,
                   DropoutSite site) {
  if (!key.active || p <= 0) return x;
  const int64_t rows = x.size(0), n = x.numel() / rows;
  const at::Tensor scale =
      dropout_scale(key, layer, site, rows, n, p, x.device()).to(x.scalar_type());
  return x * scale.view(x.sizes());
}

}  // namespace crossover
