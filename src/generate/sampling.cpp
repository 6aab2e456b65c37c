#include "crossover/generate/sampling.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <limits>
#include <stdexcept>

#include "crossover/kernels/philox.h"
#include "crossover/util/random.h"

namespace crossover {

at::Tensor philox_uniform(const std::vector<NoiseKey>& keys, const std::vector<int64_t>& positions,
                          int64_t width) {
  const int64_t n = static_cast<int64_t>(positions.size());
  if (keys.size() != positions.size())
    throw std::invalid_argument("philox_uniform: one key per position");
  // One 64-bit Philox key per (seed, stream, row): rows never share numbers.
  std::vector<uint64_t> pkeys(n);
  for (int64_t i = 0; i < n; ++i) {
    if (positions[i] < 0 || positions[i] > 0xFFFFFFFFll || keys[i].draw > 0xFFFFFFFFull)
      throw std::out_of_range("philox_uniform: position or draw beyond 32 bits");
    pkeys[i] = hash_combine(hash_combine(keys[i].seed, static_cast<uint64_t>(keys[i].stream)),
                            keys[i].row);
  }
  at::Tensor out = at::empty({n, width}, at::kDouble);
  double* data = out.data_ptr<double>();
  const int64_t pairs = (width + 1) / 2;  // each Philox call yields two 64-bit words
  at::parallel_for(0, n * pairs, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t i = job / pairs, pair = job % pairs;
      const kernels::Philox4 r = kernels::philox4x32_10(
          kernels::Philox4{{static_cast<uint32_t>(pair), static_cast<uint32_t>(positions[i]),
                            static_cast<uint32_t>(keys[i].draw), 0u}},
          pkeys[i]);
      for (int j = 0; j < 2; ++j) {
        const int64_t v = 2 * pair + j;
        if (v >= width) break;
        const uint64_t bits = ((static_cast<uint64_t>(r.v[2 * j]) << 32) | r.v[2 * j + 1]) >> 11;
        // Mid-point of the 2^-53 cell: never 0 or 1, so -log(-log u) is always finite.
        data[i * width + v] = (static_cast<double>(bits) + 0.5) * 0x1.0p-53;
      }
    }
  });
  return out;
}

at::Tensor gumbel_noise(const std::vector<NoiseKey>& keys, const std::vector<int64_t>& positions,
                        int64_t width) {
  return -at::log(-at::log(philox_uniform(keys, positions, width)));
}

at::Tensor filter_top_k(const at::Tensor& logits, int64_t k) {
  const int64_t V = logits.size(-1);
  if (k <= 0 || k >= V) return logits;
  const at::Tensor kth = std::get<0>(at::topk(logits, k, -1)).narrow(-1, k - 1, 1);
  return logits.masked_fill(logits < kth, -std::numeric_limits<double>::infinity());
}

at::Tensor filter_top_p(const at::Tensor& logits, double p) {
  if (p >= 1.0) return logits;
  auto [sorted, order] = at::sort(logits, -1, /*descending=*/true);
  const at::Tensor probs = at::softmax(sorted.to(at::kDouble), -1);
  const at::Tensor mass_before = at::cumsum(probs, -1) - probs;
  const at::Tensor drop_sorted = mass_before >= p;
  // Back to vocabulary order.
  const at::Tensor drop = at::zeros_like(drop_sorted).scatter(-1, order, drop_sorted);
  return logits.masked_fill(drop, -std::numeric_limits<double>::infinity());
}

at::Tensor sample_tokens(const at::Tensor& logits, const SamplingOptions& options,
                         const std::vector<NoiseKey>& keys, const std::vector<int64_t>& positions) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(0) == static_cast<int64_t>(positions.size()),
              "sample_tokens: logits [n, V] and n positions");
  if (options.temperature == 0) return at::argmax(logits, -1).to(at::kCPU);
  at::Tensor scaled = logits.to(at::kCPU, at::kDouble) / options.temperature;
  scaled = filter_top_p(filter_top_k(scaled, options.top_k), options.top_p);
  return at::argmax(scaled + gumbel_noise(keys, positions, logits.size(1)), -1);
}

}  // namespace crossover
