// Sampling utilities: top-k / top-p on hand-made distributions, Gumbel-max in float64 against
// the distribution it must sample, and the keyed noise's batch independence.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "crossover/generate/request.h"
#include "crossover/generate/sampling.h"

namespace crossover {
namespace {

std::vector<bool> finite(const at::Tensor& t) {
  std::vector<bool> out;
  const at::Tensor f = at::isfinite(t.reshape(-1));
  for (int64_t i = 0; i < f.numel(); ++i) out.push_back(f[i].item<bool>());
  return out;
}

TEST(GenerateSampling, TopKKeepsTheKLargestAndTies) {
  const at::Tensor l = at::tensor({1.0, 3.0, 2.0, 5.0, 4.0}, at::kDouble).unsqueeze(0);
  EXPECT_EQ(finite(filter_top_k(l, 2)), (std::vector<bool>{false, false, false, true, true}));
  EXPECT_EQ(finite(filter_top_k(l, 1)), (std::vector<bool>{false, false, false, true, false}));
  EXPECT_TRUE(at::equal(filter_top_k(l, 0), l));
  EXPECT_TRUE(at::equal(filter_top_k(l, 5), l));
  const at::Tensor ties = at::tensor({1.0, 2.0, 2.0, 0.0}, at::kDouble).unsqueeze(0);
  EXPECT_EQ(finite(filter_top_k(ties, 2)), (std::vector<bool>{false, true, true, false}));
  // Row-wise on a batch.
  const at::Tensor two = at::tensor({1.0, 2.0, 3.0, 3.0, 2.0, 1.0}, at::kDouble).view({2, 3});
  EXPECT_EQ(finite(filter_top_k(two, 1)),
            (std::vector<bool>{false, false, true, true, false, false}));
}

TEST(GenerateSampling, TopPKeepsTheSmallestNucleus) {
  // Probabilities 0.05, 0.5, 0.15, 0.3 (unsorted on purpose): sorted 0.5, 0.3, 0.15, 0.05.
  const at::Tensor l = at::log(at::tensor({0.05, 0.5, 0.15, 0.3}, at::kDouble)).unsqueeze(0);
  EXPECT_EQ(finite(filter_top_p(l, 0.45)), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(finite(filter_top_p(l, 0.7)), (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(finite(filter_top_p(l, 0.9)), (std::vector<bool>{false, true, true, true}));
  EXPECT_EQ(finite(filter_top_p(l, 0.97)), (std::vector<bool>{true, true, true, true}));
  EXPECT_TRUE(at::equal(filter_top_p(l, 1.0), l));
  // A tiny p still keeps the most likely token.
  EXPECT_EQ(finite(filter_top_p(l, 1e-6)), (std::vector<bool>{false, true, false, false}));
}

TEST(GenerateSampling, GumbelMaxInFloat64SamplesTheDistribution) {
  const std::vector<double> p = {0.2, 0.5, 0.3};
  const int64_t n = 30000;
  const at::Tensor logits = at::log(at::tensor(p, at::kDouble)).unsqueeze(0).expand({n, 3});
  std::vector<NoiseKey> keys(n, NoiseKey{11, NoiseStream::ArToken, 0, 0});
  std::vector<int64_t> positions(n);
  for (int64_t i = 0; i < n; ++i) positions[i] = i;
  EXPECT_EQ(gumbel_noise(keys, positions, 3).scalar_type(), at::kDouble);
  for (double temperature : {1.0, 0.5}) {
    // At temperature T the target is p^(1/T), normalised.
    std::vector<double> target(3);
    double z = 0;
    for (int i = 0; i < 3; ++i) z += target[i] = std::pow(p[i], 1 / temperature);
    const at::Tensor drawn = sample_tokens(logits.to(at::kFloat),
                                           SamplingOptions{temperature, 0, 1.0}, keys, positions);
    const at::Tensor counts = at::bincount(drawn, {}, 3).to(at::kDouble);
    double chi2 = 0;
    for (int i = 0; i < 3; ++i) {
      const double expected = n * target[i] / z;
      chi2 += std::pow(counts[i].item<double>() - expected, 2) / expected;
    }
    // Two degrees of freedom: P(chi2 > 13.8) = 0.001 under the right distribution.
    EXPECT_LT(chi2, 13.8) << "temperature " << temperature;
  }
  // Temperature 0 is the argmax whatever the noise.
  const at::Tensor greedy = sample_tokens(logits, SamplingOptions{0.0, 0, 1.0}, keys, positions);
  EXPECT_TRUE(at::all(greedy == 1).item<bool>());
}

TEST(GenerateSampling, NoiseDependsOnlyOnItsOwnKey) {
  const NoiseKey a{5, NoiseStream::MdmToken, 3, 9}, b{5, NoiseStream::MdmToken, 4, 9};
  const at::Tensor alone = philox_uniform({a}, {17}, 100);
  const at::Tensor batch = philox_uniform({b, a, b}, {17, 17, 2}, 100);
  EXPECT_TRUE(at::equal(batch[1], alone[0]));
  EXPECT_FALSE(at::equal(batch[0], alone[0]));                     // another row
  EXPECT_FALSE(at::equal(philox_uniform({a}, {18}, 100), alone));  // another position
  const NoiseKey other_stream{5, NoiseStream::MdmRemask, 3, 9},
      other_draw{5, NoiseStream::MdmToken, 3, 10};
  EXPECT_FALSE(at::equal(philox_uniform({other_stream}, {17}, 100), alone));
  EXPECT_FALSE(at::equal(philox_uniform({other_draw}, {17}, 100), alone));
  EXPECT_GT(alone.min().item<double>(), 0.0);
  EXPECT_LT(alone.max().item<double>(), 1.0);
  // Odd widths use half of the last Philox output.
  EXPECT_TRUE(at::equal(philox_uniform({a}, {17}, 7)[0], alone[0].narrow(0, 0, 7)));
}

TEST(GenerateSampling, FilteredTokensAreNeverSampled) {
  const int64_t n = 2000;
  const at::Tensor logits =
      at::log(at::tensor({0.05, 0.5, 0.15, 0.3}, at::kDouble)).unsqueeze(0).expand({n, 4});
  std::vector<NoiseKey> keys(n, NoiseKey{1, NoiseStream::ArToken, 0, 0});
  std::vector<int64_t> positions(n);
  for (int64_t i = 0; i < n; ++i) positions[i] = i;
  const at::Tensor k2 = at::bincount(sample_tokens(logits, {1.0, 2, 1.0}, keys, positions), {}, 4);
  EXPECT_EQ(k2[0].item<int64_t>() + k2[2].item<int64_t>(), 0);
  EXPECT_GT(k2[3].item<int64_t>(), 0);
  const at::Tensor p7 = at::bincount(sample_tokens(logits, {1.0, 0, 0.7}, keys, positions), {}, 4);
  EXPECT_EQ(p7[0].item<int64_t>() + p7[2].item<int64_t>(), 0);
}

TEST(GenerateSampling, LengthAndOptionChecksNameTheNumbers) {
  try {
    check_generation_length(200, 100, 256);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("200"), std::string::npos) << m;
    EXPECT_NE(m.find("100"), std::string::npos) << m;
    EXPECT_NE(m.find("256"), std::string::npos) << m;
    EXPECT_NE(m.find("data.seq_len"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(check_generation_length(156, 100, 256));
  EXPECT_THROW(check_generation_length(3, 0, 256), std::invalid_argument);
  EXPECT_THROW(check_sampling_options({-1.0, 0, 1.0}), std::invalid_argument);
  EXPECT_THROW(check_sampling_options({1.0, -1, 1.0}), std::invalid_argument);
  EXPECT_THROW(check_sampling_options({1.0, 0, 0.0}), std::invalid_argument);
  EXPECT_THROW(check_sampling_options({1.0, 0, 1.5}), std::invalid_argument);
}

}  // namespace
}  // namespace crossover
