#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "crossover/objective/objective.h"

namespace crossover {
namespace {

constexpr int64_t kMask = 1000;

at::Tensor windows(int64_t rows, int64_t len, uint64_t seed = 1) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, kMask, {rows, len + 1}, gen, at::kLong);
}

ObjectiveConfig mdm_config(const std::string& weighting = "inverse_t") {
  ObjectiveConfig c;
  c.type = ObjectiveType::kMdm;
  c.loss_weight = *parse_choice<LossWeight>(weighting);
  return c;
}

TEST(ArObjective, ShiftsTargetsAndWeighsEveryPosition) {
  ObjectiveConfig c;
  const auto obj = make_objective(c, kMask);
  EXPECT_TRUE(obj->causal());
  const at::Tensor w = windows(4, 16);
  const Batch b = obj->make_batch(w, {0, 3, 8, 16});
  EXPECT_TRUE(at::equal(b.inputs, w.narrow(1, 0, 16)));
  EXPECT_TRUE(at::equal(b.targets, w.narrow(1, 1, 16)));
  // 1 / (L * global batch) everywhere: the global batch sums to the mean token loss.
  EXPECT_TRUE(at::allclose(b.weights, at::full({4, 16}, 1.0f / (16 * 16))));
}

TEST(ArObjective, InputMaskAblationCorruptsInputsOnly) {
  ObjectiveConfig c;
  c.ar_input_mask_prob = 0.3;
  const auto obj = make_objective(c, kMask);
  const at::Tensor w = windows(64, 64);
  const Batch b = obj->make_batch(w, {0, 0, 0, 64});
  EXPECT_TRUE(at::equal(b.targets, w.narrow(1, 1, 64)));
  const double frac = b.inputs.eq(kMask).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(frac, 0.3, 0.02);
  EXPECT_TRUE(at::allclose(b.weights, at::full({64, 64}, 1.0f / (64 * 64))));
  const at::Tensor clean = b.inputs.ne(kMask);
  EXPECT_TRUE(at::equal(b.inputs.index({clean}), w.narrow(1, 0, 64).index({clean})));
}

TEST(MdmObjective, TimesAreStratifiedAcrossTheGlobalBatch) {
  const int64_t B = 16;
  std::vector<double> t;
  for (int64_t i = 0; i < B; ++i) t.push_back(diffusion_time(7, 5, 5 * B + i, B, 1e-3, true));
  std::sort(t.begin(), t.end());
  // One time in each stratum [eps + (1-eps) k/B, eps + (1-eps) (k+1)/B).
  for (int64_t k = 0; k < B; ++k) {
    EXPECT_GE(t[k], 1e-3 + (1 - 1e-3) * k / B - 1e-12);
    EXPECT_LT(t[k], 1e-3 + (1 - 1e-3) * (k + 1) / B + 1e-12);
  }
  EXPECT_NE(diffusion_time(7, 5, 80, B, 1e-3, true), diffusion_time(7, 6, 96, B, 1e-3, true));
  // A row numbered outside its step's global batch would give t outside (eps, 1] (a negative
  // t masks nothing: a silent zero loss); it is refused instead.
  EXPECT_THROW(diffusion_time(7, 5, 3, B, 1e-3, true), std::invalid_argument);
  EXPECT_THROW(diffusion_time(7, 5, 6 * B, B, 1e-3, true), std::invalid_argument);
}

TEST(MdmObjective, MaskedFractionTracksTAndWeightsAreTheElbo) {
  const auto obj = make_objective(mdm_config(), kMask);
  EXPECT_FALSE(obj->causal());
  const int64_t B = 256, L = 256;
  const at::Tensor w = windows(B, L);
  const Batch b = obj->make_batch(w, {3, 2, 2 * B, B});
  const at::Tensor masked = b.inputs.eq(kMask);
  for (int64_t i = 0; i < B; ++i) {
    const double t = diffusion_time(3, 2, 2 * B + i, B, 1e-3, true);
    const double frac = masked[i].to(at::kDouble).mean().item<double>();
    // Binomial(L, t): within 5 standard deviations.
    EXPECT_NEAR(frac, t, 5 * std::sqrt(t * (1 - t) / L) + 1e-9) << "row " << i;
    // ELBO weight 1/(t L) per masked token, normalised by the global batch; 0 elsewhere.
    const at::Tensor wi = b.weights[i];
    EXPECT_TRUE(at::allclose(
        wi.index({masked[i]}),
        at::full({masked[i].sum().item<int64_t>()}, static_cast<float>(1.0 / (t * L * B))), 1e-6));
    EXPECT_EQ(wi.index({~masked[i]}).abs().sum().item<float>(), 0.0f);
  }
  EXPECT_TRUE(at::equal(b.targets, w.narrow(1, 0, L)));
  EXPECT_TRUE(at::equal(b.inputs.index({~masked}), w.narrow(1, 0, L).index({~masked})));
}

TEST(MdmObjective, MasksDependOnlyOnSeedStepAndGlobalRow) {
  const auto obj = make_objective(mdm_config(), kMask);
  const at::Tensor w = windows(8, 32);
  const Batch whole = obj->make_batch(w, {9, 4, 32, 8});
  const Batch again = obj->make_batch(w, {9, 4, 32, 8});
  EXPECT_TRUE(at::equal(whole.inputs, again.inputs));
  // Two micro-batches (or two ranks) of the same global rows give the same masks.
  const Batch first = obj->make_batch(w.narrow(0, 0, 3), {9, 4, 32, 8});
  const Batch second = obj->make_batch(w.narrow(0, 3, 5), {9, 4, 35, 8});
  EXPECT_TRUE(at::equal(at::cat({first.inputs, second.inputs}), whole.inputs));
  EXPECT_TRUE(at::equal(at::cat({first.weights, second.weights}), whole.weights));
  EXPECT_FALSE(at::equal(obj->make_batch(w, {9, 5, 40, 8}).inputs, whole.inputs));
  EXPECT_FALSE(at::equal(obj->make_batch(w, {10, 4, 32, 8}).inputs, whole.inputs));
}

TEST(MdmObjective, MaskFractionWeightingMasksAtLeastOneTokenPerRow) {
  ObjectiveConfig c = mdm_config("mask_fraction");
  c.eps = 1e-6;
  c.stratified_t = false;
  const auto obj = make_objective(c, kMask);
  const int64_t B = 512, L = 8;
  const Batch b = obj->make_batch(windows(B, L), {1, 0, 0, B});
  const at::Tensor counts = b.inputs.eq(kMask).sum(1);
  EXPECT_GE(counts.min().item<int64_t>(), 1);
  // Each row's weights sum to 1 / global batch: weight = 1 / count per masked token.
  EXPECT_TRUE(at::allclose(b.weights.sum(1), at::full({B}, 1.0f / B), 1e-5));
}

TEST(MdmObjective, UniformLogitsGiveLnVInExpectation) {
  // With uniform logits every masked token costs ln V, so the batch loss is
  // ln V * sum(weights); its expectation over masks is exactly ln V.
  for (const std::string weighting : {"inverse_t", "mask_fraction"}) {
    const auto obj = make_objective(mdm_config(weighting), kMask);
    double total = 0;
    const int steps = 16;
    for (int s = 0; s < steps; ++s)
      total +=
          obj->make_batch(windows(256, 256, s), {0, s, s * 256, 256}).weights.sum().item<double>();
    EXPECT_NEAR(total / steps, 1.0, 0.01) << weighting;
  }
  ObjectiveConfig ar;
  EXPECT_NEAR(make_objective(ar, kMask)
                  ->make_batch(windows(4, 8), {0, 0, 0, 4})
                  .weights.sum()
                  .item<double>(),
              1.0, 1e-6);
}

TEST(Objectives, RandomLengthCutsWholeSteps) {
  int cut = 0;
  for (int64_t step = 0; step < 200; ++step) {
    const int64_t len = step_length(3, step, 64, 0.5);
    EXPECT_GE(len, 1);
    EXPECT_LE(len, 64);
    cut += len < 64;
  }
  EXPECT_NEAR(cut, 100, 30);
  EXPECT_EQ(step_length(3, 7, 64, 0.0), 64);
  ObjectiveConfig c = mdm_config();
  c.random_length_prob = 1.0;
  const Batch b = make_objective(c, kMask)->make_batch(windows(2, 64), {3, 11, 22, 2});
  EXPECT_EQ(b.inputs.size(1), step_length(3, 11, 64, 1.0));
}

}  // namespace
}  // namespace crossover
