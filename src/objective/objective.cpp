#include "crossover/objective/objective.h"

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

#include "crossover/kernels/ops.h"
#include "crossover/kernels/philox.h"
#include "crossover/model/loss_head.h"

namespace crossover {

namespace {

// Per-step random numbers beyond the per-token streams of kernels/philox.h.
constexpr uint32_t kStreamTime = 2;           // u of the stratified times
constexpr uint32_t kStreamStepLength = 3;     // random-length cut
constexpr uint64_t kStepRow = 0xFFFFFFFFull;  // a "row" no batch row uses

double uniform01(uint32_t bits_hi, uint32_t bits_lo) {
  const uint64_t x = (static_cast<uint64_t>(bits_hi) << 21) ^ (bits_lo >> 11);
  return static_cast<double>(x & ((uint64_t{1} << 53) - 1)) * 0x1.0p-53;
}

// The masks of this step's rows: keyed by (seed, step, global row), so they do not depend on
// the rank layout; losses are averaged over the global batch.
DropoutKey dropout_key(const StepContext& ctx) {
  return DropoutKey{true, ctx.seed, ctx.step, ctx.global_row0};
}

kernels::MaskParams mask_params(const StepContext& ctx, int64_t mask_id, int weighting,
                                int64_t len) {
  kernels::MaskParams p;
  p.seed = ctx.seed;
  p.step = static_cast<uint64_t>(ctx.step);
  p.global_row0 = ctx.global_row0;
  p.mask_id = mask_id;
  p.stream = kernels::kStreamTokenMask;
  p.weighting = weighting;
  p.scale = 1.0f / static_cast<float>(ctx.global_batch);
  p.norm_len = len;
  return p;
}

class Autoregressive final : public Objective {
 public:
  Autoregressive(const ObjectiveConfig& c, int64_t mask_id) : config_(c), mask_id_(mask_id) {}
  ObjectiveType type() const override { return ObjectiveType::kAr; }
  bool causal() const override { return true; }
  bool exact_likelihood() const override { return true; }
  Decoding decoding() const override { return Decoding::kLeftToRight; }

  at::Tensor validation_samples(const Transformer& model, const std::vector<at::Tensor>& flats,
                                const at::Tensor& windows, int64_t, int64_t) const override {
    return ar_validation_samples(model, flats, windows);
  }
  std::vector<OptionNll> option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                    const TokenizedExample& example, uint64_t,
                                    const ScoreOptions& options) const override {
    return ar_option_nll(model, flats, example, options);
  }

  Batch make_batch(const at::Tensor& windows, const StepContext& ctx) const override {
    const int64_t len = step_length(ctx.seed, ctx.step, windows.size(1) - 1,
                                    config_.random_length_prob);
    Batch b;
    b.causal = true;
    b.dropout = dropout_key(ctx);
    b.inputs = windows.narrow(1, 0, len).contiguous();
    b.targets = windows.narrow(1, 1, len).contiguous();
    const float scale = 1.0f / static_cast<float>(ctx.global_batch);
    if (config_.ar_input_mask_prob > 0) {
      // Ablation: corrupt inputs like diffusion does, keep every target.
      const auto p = mask_params(ctx, mask_id_, kernels::kWeightNone, len);
      const at::Tensor t = at::full({b.inputs.size(0)},
                                    static_cast<float>(config_.ar_input_mask_prob), at::kFloat);
      auto m = ops::mdm_mask(b.inputs, t, p);
      b.inputs = m.noisy;
      b.weights = m.weight;
    } else {
      b.weights = at::full(b.inputs.sizes(), scale / static_cast<float>(len),
                           windows.options().dtype(at::kFloat));
    }
    // Every target counts (the weights are scale/len, or kWeightNone's): known on the host.
    if (b.inputs.is_cuda()) b.signal_positions = b.inputs.numel();
    return b;
  }

 private:
  ObjectiveConfig config_;
  int64_t mask_id_;
};

class MaskedDiffusion final : public Objective {
 public:
  MaskedDiffusion(const ObjectiveConfig& c, int64_t mask_id)
      : config_(c), mask_id_(mask_id), schedule_(make_noise_schedule(c.schedule)) {}
  ObjectiveType type() const override { return ObjectiveType::kMdm; }
  bool causal() const override { return false; }
  bool exact_likelihood() const override { return false; }
  Decoding decoding() const override { return Decoding::kUnmasking; }

  at::Tensor validation_samples(const Transformer& model, const std::vector<at::Tensor>& flats,
                                const at::Tensor& windows, int64_t first_row,
                                int64_t samples) const override {
    return mdm_validation_samples(model, flats, windows, first_row, samples, config_.eps,
                                  *schedule_);
  }
  std::vector<OptionNll> option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                    const TokenizedExample& example, uint64_t example_key,
                                    const ScoreOptions& options) const override {
    return mdm_option_nll(model, flats, example, example_key, options);
  }

  Batch make_batch(const at::Tensor& windows, const StepContext& ctx) const override {
    const int64_t len = step_length(ctx.seed, ctx.step, windows.size(1) - 1,
                                    config_.random_length_prob);
    const at::Tensor x0 = windows.narrow(1, 0, len).contiguous();
    const int64_t rows = x0.size(0);
    at::Tensor t = at::empty({rows}, at::kFloat);
    for (int64_t i = 0; i < rows; ++i)
      t[i] = static_cast<float>(schedule_->mask_probability(
          diffusion_time(ctx.seed, ctx.step, ctx.global_row0 + i, ctx.global_batch, config_.eps,
                         config_.stratified_t)));
    const auto p = mask_params(ctx, mask_id_,
                               config_.loss_weight == LossWeight::kMaskFraction
                                   ? kernels::kWeightMaskFraction
                                   : kernels::kWeightInverseT,
                               len);
    auto m = ops::mdm_mask(x0, t, p);  // t crosses to x0's device without a host sync
    Batch b{m.noisy, x0, m.weight, false, dropout_key(ctx)};
    b.signal_positions = m.signal;  // counted on the host on a GPU: the head needs no sync
    return b;
  }

 private:
  ObjectiveConfig config_;
  int64_t mask_id_;
  std::unique_ptr<NoiseSchedule> schedule_;
};

}  // namespace

double diffusion_time(uint64_t seed, int64_t step, int64_t global_row, int64_t global_batch,
                      double eps, bool stratified) {
  double u;
  if (stratified) {
    const auto bits = kernels::token_bits(seed, static_cast<uint64_t>(step), kStepRow, 0,
                                          kStreamTime);
    const double base = uniform01(bits.v[0], bits.v[1]);
    const int64_t i = global_row - step * global_batch;  // index within the global batch
    if (i < 0 || i >= global_batch)
      throw std::invalid_argument("diffusion_time: global row " + std::to_string(global_row) +
                                  " is not in step " + std::to_string(step) +
                                  "'s global batch of " + std::to_string(global_batch) +
                                  " (rows step * global_batch + i, 0 <= i < global_batch)");
    u = std::fmod(base + static_cast<double>(i) / static_cast<double>(global_batch), 1.0);
  } else {
    const auto bits = kernels::token_bits(seed, static_cast<uint64_t>(step),
                                          static_cast<uint64_t>(global_row), 0, kStreamTime);
    u = uniform01(bits.v[0], bits.v[1]);
  }
  return eps + (1.0 - eps) * u;
}

int64_t step_length(uint64_t seed, int64_t step, int64_t seq_len, double p) {
  if (p <= 0) return seq_len;
  const auto bits = kernels::token_bits(seed, static_cast<uint64_t>(step), kStepRow, 0,
                                        kStreamStepLength);
  if (uniform01(bits.v[0], bits.v[1]) >= p) return seq_len;
  return 1 + static_cast<int64_t>(bits.v[2] % static_cast<uint64_t>(seq_len));
}

Batch batch_rows(const Batch& batch, int64_t begin, int64_t count) {
  Batch b = batch;
  b.inputs = batch.inputs.narrow(0, begin, count);
  b.targets = batch.targets.narrow(0, begin, count);
  b.weights = batch.weights.narrow(0, begin, count);
  b.dropout.global_row0 += begin;
  b.signal_positions = -1;  // the batch's count, not these rows'
  return b;
}

at::Tensor batch_loss(const Transformer& model, const std::vector<at::Tensor>& flats,
                      const Batch& batch) {
  const at::Tensor h = model.hidden(flats, batch.inputs.to(flats[0].device()), batch.causal,
                                    nullptr, CacheMode::Read, batch.dropout);
  return head_loss(model, flats[0], h, batch);
}

at::Tensor head_loss(const Transformer& model, const at::Tensor& embed_flat,
                     const at::Tensor& hidden, const Batch& batch) {
  const at::Device device = embed_flat.device();
  return weighted_cross_entropy(hidden, model.head_weight(embed_flat), batch.targets.to(device),
                                batch.weights.to(device), 0, batch.signal_positions);
}

std::unique_ptr<Objective> make_objective(const ObjectiveConfig& config, int64_t mask_id) {
  switch (config.type) {
    case ObjectiveType::kAr: return std::make_unique<Autoregressive>(config, mask_id);
    case ObjectiveType::kMdm: return std::make_unique<MaskedDiffusion>(config, mask_id);
  }
  throw std::logic_error("make_objective: an unhandled ObjectiveType");
}

}  // namespace crossover
