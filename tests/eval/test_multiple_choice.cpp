// Option likelihoods against independent references: the AR score against a per-position loop
// over full logits, the MDM estimator against the exact expectation over every mask, and the
// estimator's masks against their stratification contract.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "crossover/comm/comm.h"
#include "crossover/eval/multiple_choice.h"
#include "random_model.h"

namespace crossover {
namespace {

constexpr int64_t kVocab = 40;

// kVocab tokens, sequences of at most 32 (tests/random_model.h).
struct RandomModel : testing::RandomModel {
  explicit RandomModel(uint64_t seed) : testing::RandomModel(seed, kVocab, 32) {}
};

TokenizedExample example(std::vector<int64_t> context, std::vector<std::vector<int64_t>> options) {
  TokenizedExample e;
  e.context = std::move(context);
  e.options = std::move(options);
  e.option_chars.assign(e.options.size(), 1.0);
  return e;
}

TEST(EvalMultipleChoice, ArOptionNllEqualsANaivePerPositionLoop) {
  c10::InferenceMode inference;
  const RandomModel m(1);
  // Options of different lengths: the batched forward pads the shorter ones.
  const auto ex = example({5, 9, 13, 2, 7}, {{11}, {3, 17, 8, 30}, {22, 4}, {6, 6, 6}});
  for (const int64_t max_tokens : {int64_t{1} << 16, int64_t{1}}) {  // one forward; one per option
    ScoreOptions so;
    so.max_batch_tokens = max_tokens;
    const auto got = ar_option_nll(*m.model, m.flats, ex, so);
    ASSERT_EQ(got.size(), ex.options.size());
    for (size_t j = 0; j < ex.options.size(); ++j) {
      // Token i of the option: a fresh forward over exactly the tokens before it.
      double want = 0;
      std::vector<int64_t> prefix = ex.context;
      for (const int64_t token : ex.options[j]) {
        want -= m.log_probs(prefix, true)[static_cast<int64_t>(prefix.size()) - 1][token]
                    .item<double>();
        prefix.push_back(token);
      }
      EXPECT_NEAR(got[j].nll, want, 1e-4 * std::abs(want)) << "option " << j;
      EXPECT_EQ(got[j].se, 0.0);
      EXPECT_GT(want, 0.5);  // a real likelihood, not a trivially small one
    }
  }
}

// E_l E_{|S|=l} [(L/l) sum_{i in S} -log p(x_i | x with S masked)], l ~ U{1..L}, S uniform:
// every l and every subset, each with its own forward over full logits.
double exact_mdm_nll(const RandomModel& m, const std::vector<int64_t>& context,
                     const std::vector<int64_t>& option) {
  const int64_t C = static_cast<int64_t>(context.size()), L = static_cast<int64_t>(option.size());
  std::vector<double> sum_by_l(L + 1, 0.0), count_by_l(L + 1, 0.0);
  for (uint32_t subset = 1; subset < (1u << L); ++subset) {
    std::vector<int64_t> ids = context;
    ids.insert(ids.end(), option.begin(), option.end());
    const int64_t l = __builtin_popcount(subset);
    for (int64_t i = 0; i < L; ++i)
      if (subset & (1u << i)) ids[C + i] = m.model->mask_id();
    const at::Tensor lp = m.log_probs(ids, false);
    double ce = 0;
    for (int64_t i = 0; i < L; ++i)
      if (subset & (1u << i)) ce -= lp[C + i][option[i]].item<double>();
    sum_by_l[l] += static_cast<double>(L) / l * ce;
    count_by_l[l] += 1;
  }
  double e = 0;
  for (int64_t l = 1; l <= L; ++l) e += sum_by_l[l] / count_by_l[l] / L;
  return e;
}

TEST(EvalMultipleChoice, MdmEstimatorMatchesExactEnumerationOverAllMasks) {
  c10::InferenceMode inference;
  const RandomModel m(2);
  const auto ex = example({5, 9, 13, 2},
                          {{3, 17, 8}, {22, 4, 10, 31, 12}, {6, 7, 8, 9, 10, 11}, {14, 15, 16}});
  ScoreOptions so;
  so.samples = 600;  // a multiple of every L here: each l appears equally often
  const auto got = mdm_option_nll(*m.model, m.flats, ex, /*example_key=*/7, so);
  for (size_t j = 0; j < ex.options.size(); ++j) {
    const double exact = exact_mdm_nll(m, ex.context, ex.options[j]);
    EXPECT_GT(got[j].se, 0.0) << j;
    EXPECT_LT(got[j].se, 0.05 * exact) << "the bound below must be tight to mean anything";
    std::printf("option of %zu tokens: estimate %.4f ± %.4f, exact %.4f\n", ex.options[j].size(),
                got[j].nll, got[j].se, exact);
    EXPECT_NEAR(got[j].nll, exact, 3 * got[j].se) << "option " << j;
    // Without the L / l weight the expectation would be about (L + 1) / (2 L) of the exact
    // value: many standard errors away, so the comparison can fail.
    const double L = static_cast<double>(ex.options[j].size());
    EXPECT_GT(exact * (1 - (L + 1) / (2 * L)), 10 * got[j].se);
  }
  // Reproducible: a fixed seed, keyed by example and option, independent of how rows are batched.
  so.max_batch_tokens = 7 * 10;
  const auto again = mdm_option_nll(*m.model, m.flats, ex, 7, so);
  for (size_t j = 0; j < ex.options.size(); ++j)
    EXPECT_NEAR(again[j].nll, got[j].nll, 1e-5 * got[j].nll);
  const auto other_key = mdm_option_nll(*m.model, m.flats, ex, 8, so);
  EXPECT_NE(other_key[1].nll, got[1].nll);
}

TEST(EvalMultipleChoice, MdmSingleTokenOptionsAreExact) {
  c10::InferenceMode inference;
  const RandomModel m(3);
  const auto ex = example({5, 9, 13}, {{11}, {3}, {27}});
  for (const int64_t samples : {1, 64}) {
    ScoreOptions so;
    so.samples = samples;
    const auto got = mdm_option_nll(*m.model, m.flats, ex, 0, so);
    for (size_t j = 0; j < ex.options.size(); ++j) {
      const double exact =
          -m.log_probs({5, 9, 13, m.model->mask_id()}, false)[3][ex.options[j][0]].item<double>();
      EXPECT_NEAR(got[j].nll, exact, 1e-5 * exact);
      EXPECT_EQ(got[j].se, 0.0);
      EXPECT_NEAR(exact_mdm_nll(m, ex.context, ex.options[j]), exact, 1e-6 * exact);
    }
  }
}

TEST(EvalMultipleChoice, EstimatorMasksAreStratifiedUniformSubsets) {
  for (const int64_t L : {1, 2, 5, 16}) {
    const int64_t K = 4 * L;
    const auto masks = estimator_masks(L, K, 99);
    ASSERT_EQ(static_cast<int64_t>(masks.size()), K);
    std::vector<int64_t> per_l(L + 1, 0), per_position(L, 0);
    for (const auto& s : masks) {
      ASSERT_GE(s.size(), 1u);
      ++per_l[s.size()];
      for (size_t i = 0; i < s.size(); ++i) {
        ASSERT_GE(s[i], 0);
        ASSERT_LT(s[i], L);
        if (i > 0) ASSERT_LT(s[i - 1], s[i]);  // distinct
        ++per_position[s[i]];
      }
    }
    for (int64_t l = 1; l <= L; ++l) EXPECT_EQ(per_l[l], 4) << "L " << L << " l " << l;
    EXPECT_EQ(estimator_masks(L, K, 99), masks);
  }
  // Subsets spread over positions: with L = 8 and many samples each position is masked about
  // (L + 1) / 2 / L of the time.
  const auto many = estimator_masks(8, 8000, 5);
  std::vector<double> freq(8, 0);
  for (const auto& s : many)
    for (const int64_t p : s) freq[p] += 1.0 / 8000;
  for (const double f : freq) EXPECT_NEAR(f, 4.5 / 8, 0.03);
  EXPECT_NE(estimator_masks(8, 16, 5), estimator_masks(8, 16, 6));
  // Fewer samples than tokens: one l from each of K equal strata, so a handful of samples
  // still spans few-masked to all-masked instead of K neighbouring values of l.
  for (uint64_t key = 0; key < 50; ++key) {
    const auto few = estimator_masks(16, 4, key);
    for (int64_t k = 0; k < 4; ++k) {
      EXPECT_GE(static_cast<int64_t>(few[k].size()), 4 * k + 1) << key;
      EXPECT_LE(static_cast<int64_t>(few[k].size()), 4 * k + 4) << key;
    }
  }
}

TEST(EvalMultipleChoice, MdmOptionsOfOneLengthAreScoredOnTheSameMasks) {
  c10::InferenceMode inference;
  const RandomModel m(5);
  // Options 0 and 2 are the same tokens: with common masks their estimates are identical, so
  // estimator noise cannot rank one above the other; option 1 (another length) is unaffected.
  // They agree to rounding, not bit for bit: the two options are different rows of one forward,
  // and BLAS kernels need not round every row alike (OpenBLAS's Haswell and Zen sgemm kernels
  // differ in the last bits between rows of one batch; SkylakeX's happen not to).
  const auto ex = example({5, 9, 13, 2}, {{3, 17, 8, 20}, {4, 6}, {3, 17, 8, 20}, {7, 7, 1, 30}});
  ScoreOptions so;
  so.samples = 3;
  constexpr double kRounding = 1e-5;  // relative; fp32 activations, float64 sums
  double lowest = INFINITY, highest = -INFINITY;
  for (uint64_t key = 0; key < 5; ++key) {
    const auto got = mdm_option_nll(*m.model, m.flats, ex, key, so);
    EXPECT_NEAR(got[0].nll, got[2].nll, kRounding * std::abs(got[0].nll)) << key;
    EXPECT_GT(std::abs(got[0].nll - got[3].nll), 1e3 * kRounding * std::abs(got[0].nll)) << key;
    lowest = std::min(lowest, got[0].nll);
    highest = std::max(highest, got[0].nll);
  }
  // Other masks (other example keys) move the same option's estimate by far more than the
  // tolerance, so the tolerance cannot hide options scored on different masks.
  EXPECT_GT(highest - lowest, 1e3 * kRounding * std::abs(highest));
}

TEST(EvalMultipleChoice, MetricsFollowTheOptionNlls) {
  c10::InferenceMode inference;
  const RandomModel m(4);
  std::vector<TokenizedExample> exs;
  for (int i = 0; i < 6; ++i) {
    auto e = example({5, 9, static_cast<int64_t>(10 + i)}, {{11, 12}, {3}, {27, 28, 29}});
    e.option_chars = {2.0, 1.0, 30.0};
    e.label = i % 3;
    exs.push_back(e);
  }
  auto comm = make_local_comm();
  ScoreOptions so;
  const McMetrics got = evaluate_multiple_choice(
      *m.model, m.flats, *make_objective(ObjectiveConfig{}, m.model->mask_id()), exs, so, *comm);
  double acc = 0, acc_norm = 0, right = 0, wrong = 0;
  for (const auto& e : exs) {
    const auto nll = ar_option_nll(*m.model, m.flats, e, so);
    int64_t best = 0, best_norm = 0;
    for (int64_t j = 0; j < 3; ++j) {
      if (nll[j].nll < nll[best].nll) best = j;
      if (nll[j].nll / e.option_chars[j] < nll[best_norm].nll / e.option_chars[best_norm])
        best_norm = j;
    }
    acc += best == e.label;
    acc_norm += best_norm == e.label;
    right += nll[e.label].nll;
    for (int64_t j = 0; j < 3; ++j)
      if (j != e.label) wrong += nll[j].nll / 2;
  }
  EXPECT_EQ(got.examples, 6);
  EXPECT_DOUBLE_EQ(got.acc, acc / 6);
  EXPECT_DOUBLE_EQ(got.acc_norm, acc_norm / 6);
  EXPECT_NEAR(got.nll_right, right / 6, 1e-9);
  EXPECT_NEAR(got.nll_wrong, wrong / 6, 1e-9);
  EXPECT_NEAR(got.delta_nll, got.nll_wrong - got.nll_right, 1e-12);
  const auto j = got.to_json();
  for (const char* key : {"acc", "acc_norm", "nll_right", "nll_wrong", "delta_nll", "examples"})
    EXPECT_TRUE(j.contains(key)) << key;
}

}  // namespace
}  // namespace crossover
