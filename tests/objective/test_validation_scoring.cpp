// The validation loss scores the same tokens under both objectives: token 0 of a window is
// context only, tokens 1..L-1 are scored. Checked against references that know nothing of the
// validation code: AR's loss against a fresh forward per prefix; MDM's against the exact ELBO
// over every mask of tokens 1..L-1 with token 0 visible (which is the multiple-choice estimator's
// target for option w[1:L] after context w[0], as both objectives' option scores are).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <set>

#include "crossover/model/loss_head.h"
#include "crossover/objective/objective.h"
#include "crossover/objective/scoring.h"
#include "random_model.h"

namespace crossover {
namespace {

constexpr int64_t kVocab = 40;

// kVocab tokens, sequences of at most 16 (tests/random_model.h).
struct RandomModel : testing::RandomModel {
  explicit RandomModel(uint64_t seed, bool zero = false)
      : testing::RandomModel(seed, kVocab, 16, zero) {}
};

at::Tensor windows(int64_t rows, int64_t len, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, kVocab, {rows, len}, gen, at::kLong);
}

TEST(ValidationScoring, ArScoresTokensOneToLMinusOneEachGivenEveryTokenBefore) {
  c10::InferenceMode inference;
  const RandomModel m(1);
  const int64_t L = 12;
  const at::Tensor w = windows(3, L, 5);
  const at::Tensor got = ar_validation_samples(*m.model, m.flats, w);
  ASSERT_EQ(got.size(0), 3);
  ASSERT_EQ(got.size(1), 1);
  for (int64_t r = 0; r < 3; ++r) {
    double want = 0;
    for (int64_t p = 1; p < L; ++p)  // a fresh forward over exactly the tokens before p
      want -=
          m.log_probs(w[r].narrow(0, 0, p), true)[p - 1][w[r][p].item<int64_t>()].item<double>();
    want /= static_cast<double>(L - 1);
    EXPECT_NEAR(got[r][0].item<double>(), want, 1e-5 * want) << "row " << r;
  }
}

// A GPU's validation selects the masked rows by the count the host made of the same draws
// (ops::Masked::signal) instead of nonzero(): a count off by one would drop or repeat a row. On
// the CPU no count is made (nonzero() is the cheaper selection there).
TEST(ValidationScoring, OnAGpuTheHostsCountOfMaskedPositionsIsTheMasksOwn) {
  const RandomModel m(1);
  const auto schedule = make_noise_schedule(NoiseScheduleType::kLinear);
  const at::Tensor w = windows(5, 33, 8);
  EXPECT_EQ(mdm_validation_corruption(w, 37, 0, 16, 1e-3, *schedule, m.model->mask_id()).signal,
            -1);
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  for (int64_t k = 0; k < 16; ++k) {
    const auto c = mdm_validation_corruption(w.cuda(), 37, k, 16, 1e-3, *schedule,
                                             m.model->mask_id());
    EXPECT_EQ(c.signal, c.mask.sum().item<int64_t>()) << "sample " << k;
    const at::Tensor flat = c.weight.reshape({-1});
    EXPECT_TRUE(at::equal(signal_row_index(flat, c.signal), flat.ne(0).nonzero().squeeze(1)));
  }
}

TEST(ValidationScoring, MdmNeverMasksOrWeighsTokenZeroAndCanMaskEveryOther) {
  const RandomModel m(1);
  const auto schedule = make_noise_schedule(NoiseScheduleType::kLinear);
  const int64_t L = 10, K = 64;
  const at::Tensor w = windows(4, L, 6);
  for (int64_t r = 0; r < 4; ++r) {
    std::set<int64_t> masked;
    for (int64_t k = 0; k < K; ++k) {
      const auto c = mdm_validation_corruption(w, 100, k, K, 1e-3, *schedule, m.model->mask_id());
      ASSERT_EQ(c.noisy.size(1), L);
      EXPECT_EQ(c.noisy[r][0].item<int64_t>(), w[r][0].item<int64_t>());
      EXPECT_FALSE(c.mask[r][0].item<bool>());
      EXPECT_EQ(c.weight[r][0].item<float>(), 0.0f);
      for (int64_t p = 1; p < L; ++p) {
        const bool is = c.mask[r][p].item<bool>();
        EXPECT_EQ(is, c.noisy[r][p].item<int64_t>() == m.model->mask_id());
        EXPECT_EQ(is, c.weight[r][p].item<float>() > 0);
        if (is) masked.insert(p);
        else EXPECT_EQ(c.noisy[r][p].item<int64_t>(), w[r][p].item<int64_t>());
      }
    }
    std::set<int64_t> all;
    for (int64_t p = 1; p < L; ++p) all.insert(p);
    EXPECT_EQ(masked, all) << "row " << r;
  }
}

// The ELBO of w[1:L] given w[0] under the linear schedule, exactly: sum over l of the mean over
// l-subsets S of tokens 1..L-1 of (1 / l) sum_{p in S} -log p(w_p | w with S masked), per token.
// (Integrating 1/t over t of Binomial(S, t) masks gives weight 1/l to each subset size.)
double exact_elbo_per_token(const RandomModel& m, const at::Tensor& w) {
  const int64_t L = w.size(0), S = L - 1;
  std::vector<double> sum(S + 1, 0.0), count(S + 1, 0.0);
  for (uint32_t subset = 1; subset < (1u << S); ++subset) {
    at::Tensor ids = w.clone();
    const int l = __builtin_popcount(subset);
    for (int64_t i = 0; i < S; ++i)
      if (subset & (1u << i)) ids[1 + i] = m.model->mask_id();
    const at::Tensor lp = m.log_probs(ids, false);
    double ce = 0;
    for (int64_t i = 0; i < S; ++i)
      if (subset & (1u << i)) ce -= lp[1 + i][w[1 + i].item<int64_t>()].item<double>();
    sum[l] += ce / l;
    count[l] += 1;
  }
  double e = 0;
  for (int64_t l = 1; l <= S; ++l) e += sum[l] / count[l];
  return e / static_cast<double>(S);
}

TEST(ValidationScoring, BothObjectivesScoreTheOptionWOneToLGivenContextWZero) {
  c10::InferenceMode inference;
  const RandomModel m(2);
  const auto schedule = make_noise_schedule(NoiseScheduleType::kLinear);
  const int64_t L = 7, K = 20000;
  const at::Tensor w = windows(2, L, 7);
  const at::Tensor ar = ar_validation_samples(*m.model, m.flats, w);
  const at::Tensor mdm = mdm_validation_samples(*m.model, m.flats, w, 0, K, 1e-3, *schedule);
  ASSERT_EQ(mdm.size(1), K);
  for (int64_t r = 0; r < 2; ++r) {
    // The same tokens, as a multiple-choice option after the same context: per token.
    TokenizedExample ex;
    ex.context = {w[r][0].item<int64_t>()};
    std::vector<int64_t> option;
    for (int64_t p = 1; p < L; ++p) option.push_back(w[r][p].item<int64_t>());
    ex.options = {option};
    ex.option_chars = {1.0};
    const double ar_option = ar_option_nll(*m.model, m.flats, ex, {})[0].nll / (L - 1);
    EXPECT_NEAR(ar[r][0].item<double>(), ar_option, 1e-5 * ar_option);

    const double exact = exact_elbo_per_token(m, w[r]);
    const double mean = mdm[r].mean().item<double>();
    const double se = mdm[r].std().item<double>() / std::sqrt(static_cast<double>(K));
    std::printf("row %lld: ar %.4f, mdm %.4f ± %.4f, exact elbo %.4f\n", static_cast<long long>(r),
                ar[r][0].item<double>(), mean, se, exact);
    EXPECT_LT(se, 0.02 * exact);
    // t in (eps, 1] leaves out the ELBO's integral below eps = 1e-3: at most ~eps of it.
    EXPECT_NEAR(mean, exact, 4 * se + 2e-3 * exact);
    // Scoring token 0 as well (L tokens, normalised by L), or normalising by L, would move the
    // estimate by about exact / L: many standard errors.
    EXPECT_GT(exact / L, 10 * se);
  }
}

TEST(ValidationScoring, AnUninformedModelScoresLnVPerTokenUnderBothObjectives) {
  c10::InferenceMode inference;
  const RandomModel m(3, /*zero=*/true);  // zero weights: uniform predictions over the vocabulary
  const auto schedule = make_noise_schedule(NoiseScheduleType::kLinear);
  const at::Tensor w = windows(64, 8, 8);
  const at::Tensor ar = ar_validation_samples(*m.model, m.flats, w);
  EXPECT_TRUE(at::allclose(ar, at::full_like(ar, std::log(static_cast<double>(kVocab))), 1e-5));
  const at::Tensor mdm = mdm_validation_samples(*m.model, m.flats, w, 0, 64, 1e-3, *schedule);
  const double mean = mdm.mean().item<double>();
  const double se = mdm.std().item<double>() / std::sqrt(static_cast<double>(mdm.numel()));
  EXPECT_NEAR(mean, std::log(static_cast<double>(kVocab)), 4 * se);
  EXPECT_LT(4 * se, std::log(static_cast<double>(kVocab)) / 8);  // a per-L normalisation would fail
}

}  // namespace
}  // namespace crossover
