// kernels/mdm_mask.h, CPU reference: the masking forward process and its loss weights. These
// are the semantics the CUDA kernel must reproduce bit for bit (tests/kernels/test_kernels_cuda).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <vector>

#include "crossover/kernels/mdm_mask.h"
#include "crossover/kernels/philox.h"

namespace crossover::kernels {
namespace {

constexpr int64_t kMaskId = 50000;

struct Masked {
  std::vector<int64_t> noisy;
  std::vector<uint8_t> mask;
  std::vector<float> weight;
};

std::vector<int64_t> make_tokens(int64_t rows, int64_t len) {
  std::vector<int64_t> tokens(rows * len);
  for (int64_t i = 0; i < rows * len; ++i) tokens[i] = 4 + (i * 7919) % 30000;
  return tokens;
}

Masked run(const std::vector<int64_t>& tokens, const std::vector<float>& t, int64_t len,
           const MaskParams& p) {
  const int64_t rows = static_cast<int64_t>(t.size());
  Masked out{std::vector<int64_t>(rows * len), std::vector<uint8_t>(rows * len),
             std::vector<float>(rows * len)};
  mdm_mask_cpu(tokens.data(), t.data(), rows, len, p, out.noisy.data(), out.mask.data(),
               out.weight.data());
  return out;
}

MaskParams params(int weighting, uint64_t seed = 17, uint64_t step = 3) {
  MaskParams p;
  p.seed = seed;
  p.step = step;
  p.mask_id = kMaskId;
  p.weighting = weighting;
  p.scale = 0.125f;
  return p;
}

int64_t row_count(const Masked& m, int64_t r, int64_t len) {
  return std::accumulate(m.mask.begin() + r * len, m.mask.begin() + (r + 1) * len, int64_t{0});
}

TEST(MdmMaskCpu, MaskedFractionTracksT) {
  const int64_t rows = 200, len = 1000;
  std::vector<float> t(rows);
  for (int64_t r = 0; r < rows; ++r) t[r] = (static_cast<float>(r) + 0.5f) / rows;
  const auto tokens = make_tokens(rows, len);
  const Masked m = run(tokens, t, len, params(kWeightInverseT));
  int64_t total = 0;
  double expected = 0;
  for (int64_t r = 0; r < rows; ++r) {
    // Binomial(len, t): 6 standard deviations, plus one for the 2^-24 granularity of uniforms.
    const double mean = len * double(t[r]), sd = std::sqrt(len * t[r] * (1.0 - t[r]));
    const int64_t c = row_count(m, r, len);
    EXPECT_NEAR(double(c), mean, 6 * sd + 1) << "row " << r << " t " << t[r];
    total += c;
    expected += mean;
  }
  // Over all rows the bound is much tighter: about 0.2% of the total.
  double var = 0;
  for (float tr : t) var += len * tr * (1.0 - tr);
  EXPECT_NEAR(double(total), expected, 5 * std::sqrt(var));
}

TEST(MdmMaskCpu, ExtremeTimes) {
  const int64_t len = 301;
  const std::vector<float> t = {0.0f, 1.0f};
  const Masked m = run(make_tokens(2, len), t, len, params(kWeightInverseT));
  EXPECT_EQ(row_count(m, 0, len), 0);    // uniforms are >= 0, never < 0
  EXPECT_EQ(row_count(m, 1, len), len);  // uniforms are < 1
}

TEST(MdmMaskCpu, DecisionIsPhiloxUniformBelowT) {
  // The documented counter layout, spelled out: token j of global row g uses word j % 4 of
  // token_bits(seed, step, g, j / 4, stream).
  const int64_t rows = 3, len = 37;
  MaskParams p = params(kWeightInverseT, 99, 12);
  p.global_row0 = 40;
  p.stream = kStreamTokenMask;
  const std::vector<float> t = {0.3f, 0.5f, 0.9f};
  const Masked m = run(make_tokens(rows, len), t, len, p);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < len; ++j) {
      const Philox4 bits = token_bits(99, 12, 40 + r, static_cast<uint32_t>(j / 4), p.stream);
      const bool want = uniform_from_bits(bits.v[j % 4]) < t[r];
      ASSERT_EQ(m.mask[r * len + j], want) << "row " << r << " token " << j;
    }
  }
}

TEST(MdmMaskCpu, SameKeySameMaskDifferentKeyDifferentMask) {
  const int64_t len = 512;
  const std::vector<float> t = {0.5f, 0.5f};
  const auto tokens = make_tokens(2, len);
  const Masked a = run(tokens, t, len, params(kWeightInverseT, 17, 3));
  const Masked b = run(tokens, t, len, params(kWeightInverseT, 17, 3));
  EXPECT_EQ(a.mask, b.mask);
  EXPECT_EQ(a.noisy, b.noisy);
  EXPECT_EQ(a.weight, b.weight);
  const auto row = [&](const Masked& m, int64_t r) {
    return std::vector<uint8_t>(m.mask.begin() + r * len, m.mask.begin() + (r + 1) * len);
  };
  // Two rows of one batch with the same t draw different masks.
  EXPECT_NE(row(a, 0), row(a, 1));
  // Another step, another seed, another stream: different masks.
  EXPECT_NE(a.mask, run(tokens, t, len, params(kWeightInverseT, 17, 4)).mask);
  EXPECT_NE(a.mask, run(tokens, t, len, params(kWeightInverseT, 18, 3)).mask);
  MaskParams other_stream = params(kWeightInverseT, 17, 3);
  other_stream.stream = kStreamForcedMask;
  EXPECT_NE(a.mask, run(tokens, t, len, other_stream).mask);
}

TEST(MdmMaskCpu, GlobalRowKeysTheMaskSoBatchesCanBeSplit) {
  // Rows [0, 8) of a global batch starting at global row 16, in one call and in two calls (as
  // two ranks would compute them): identical outputs in every mode.
  const int64_t rows = 8, len = 45;
  const auto tokens = make_tokens(rows, len);
  std::vector<float> t(rows);
  for (int64_t r = 0; r < rows; ++r) t[r] = r == 5 ? 1e-9f : 0.1f + 0.1f * r;
  for (int weighting : {kWeightInverseT, kWeightMaskFraction, kWeightNone}) {
    MaskParams p = params(weighting);
    p.global_row0 = 16;
    const Masked whole = run(tokens, t, len, p);
    const int64_t split = 3;
    Masked parts;
    for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, split}, {split, rows}}) {
      MaskParams q = p;
      q.global_row0 = 16 + r0;
      const Masked part =
          run(std::vector<int64_t>(tokens.begin() + r0 * len, tokens.begin() + r1 * len),
              std::vector<float>(t.begin() + r0, t.begin() + r1), len, q);
      parts.noisy.insert(parts.noisy.end(), part.noisy.begin(), part.noisy.end());
      parts.mask.insert(parts.mask.end(), part.mask.begin(), part.mask.end());
      parts.weight.insert(parts.weight.end(), part.weight.begin(), part.weight.end());
    }
    EXPECT_EQ(whole.mask, parts.mask) << "weighting " << weighting;
    EXPECT_EQ(whole.noisy, parts.noisy) << "weighting " << weighting;
    EXPECT_EQ(whole.weight, parts.weight) << "weighting " << weighting;
    // And the shift matters: the same rows keyed at global row 0 are masked differently.
    MaskParams at0 = p;
    at0.global_row0 = 0;
    EXPECT_NE(whole.mask, run(tokens, t, len, at0).mask);
  }
}

TEST(MdmMaskCpu, MaskDoesNotDependOnRowLength) {
  // A token's decision depends on its position, not on len: odd lengths (not multiples of the
  // 4 tokens of a Philox block) give prefixes of the longer row's mask.
  const std::vector<float> t = {0.4f, 0.6f};
  const Masked full = run(make_tokens(2, 16), t, 16, params(kWeightInverseT));
  for (int64_t len : {1, 2, 3, 5, 7, 13}) {
    const Masked part = run(make_tokens(2, len), t, len, params(kWeightInverseT));
    for (int64_t r = 0; r < 2; ++r) {
      for (int64_t j = 0; j < len; ++j) {
        EXPECT_EQ(part.mask[r * len + j], full.mask[r * 16 + j]) << "len " << len;
      }
    }
  }
}

TEST(MdmMaskCpu, NoisyIdsAreMaskIdWhereMaskedElseOriginal) {
  const int64_t rows = 4, len = 131;
  const auto tokens = make_tokens(rows, len);
  const std::vector<float> t = {0.2f, 0.5f, 0.7f, 0.95f};
  const Masked m = run(tokens, t, len, params(kWeightInverseT));
  for (int64_t i = 0; i < rows * len; ++i) {
    ASSERT_EQ(m.noisy[i], m.mask[i] ? kMaskId : tokens[i]) << i;
  }
  // In place (tokens == noisy) gives the same result.
  std::vector<int64_t> inplace = tokens;
  std::vector<uint8_t> mask(rows * len);
  std::vector<float> weight(rows * len);
  mdm_mask_cpu(inplace.data(), t.data(), rows, len, params(kWeightInverseT), inplace.data(),
               mask.data(), weight.data());
  EXPECT_EQ(inplace, m.noisy);
  EXPECT_EQ(mask, m.mask);
}

TEST(MdmMaskCpu, InverseTWeights) {
  const int64_t rows = 5, len = 77;
  const std::vector<float> t = {0.05f, 0.3f, 0.5f, 0.75f, 1.0f};
  for (int64_t norm_len : {int64_t{0}, int64_t{64}}) {
    MaskParams p = params(kWeightInverseT);
    p.norm_len = norm_len;
    const Masked m = run(make_tokens(rows, len), t, len, p);
    const float norm = static_cast<float>(norm_len > 0 ? norm_len : len);
    for (int64_t r = 0; r < rows; ++r) {
      const float w = p.scale / (t[r] * norm);  // masked * scale / (t * norm_len)
      for (int64_t j = 0; j < len; ++j) {
        ASSERT_EQ(m.weight[r * len + j], m.mask[r * len + j] ? w : 0.0f) << r << "," << j;
      }
    }
  }
}

TEST(MdmMaskCpu, InverseTWithTinyTMasksNothingAndWeighsNothing) {
  const int64_t rows = 6, len = 50;
  const std::vector<float> t(rows, 1e-9f);
  const Masked m = run(make_tokens(rows, len), t, len, params(kWeightInverseT));
  for (int64_t i = 0; i < rows * len; ++i) {
    EXPECT_EQ(m.mask[i], 0);
    EXPECT_EQ(m.weight[i], 0.0f);
  }
}

TEST(MdmMaskCpu, MaskFractionWeightsSumToScalePerRow) {
  const int64_t rows = 6, len = 97;
  const std::vector<float> t = {0.02f, 0.1f, 0.33f, 0.5f, 0.8f, 1.0f};
  const MaskParams p = params(kWeightMaskFraction);
  const Masked m = run(make_tokens(rows, len), t, len, p);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t count = row_count(m, r, len);
    ASSERT_GT(count, 0);
    const float w = p.scale / static_cast<float>(count);  // masked * scale / count
    double sum = 0;
    for (int64_t j = 0; j < len; ++j) {
      ASSERT_EQ(m.weight[r * len + j], m.mask[r * len + j] ? w : 0.0f);
      sum += m.weight[r * len + j];
    }
    EXPECT_NEAR(sum, p.scale, 1e-6);
  }
}

TEST(MdmMaskCpu, MaskFractionForcesExactlyOneMaskOnRowsThatDrewNone) {
  const int64_t rows = 64, len = 33;  // odd length: the forced position may be in the last block
  const std::vector<float> t(rows, 1e-9f);  // below every uniform but 0: no row draws a mask
  const auto tokens = make_tokens(rows, len);
  const MaskParams p = params(kWeightMaskFraction);
  const Masked m = run(tokens, t, len, p);
  std::set<int64_t> positions;
  for (int64_t r = 0; r < rows; ++r) {
    ASSERT_EQ(row_count(m, r, len), 1) << "row " << r;
    for (int64_t j = 0; j < len; ++j) {
      const int64_t i = r * len + j;
      if (m.mask[i]) {
        positions.insert(j);
        EXPECT_EQ(m.noisy[i], kMaskId);
        EXPECT_EQ(m.weight[i], p.scale);  // scale / 1
      } else {
        EXPECT_EQ(m.noisy[i], tokens[i]);
        EXPECT_EQ(m.weight[i], 0.0f);
      }
    }
  }
  // The forced position is drawn per row, not fixed: 64 rows over 33 positions hit many.
  EXPECT_GT(positions.size(), 10u);
  // Deterministic like the rest.
  EXPECT_EQ(run(tokens, t, len, p).mask, m.mask);
  // t = 0 forces one mask as well; the other modes never force.
  EXPECT_EQ(row_count(run(tokens, std::vector<float>(rows, 0.0f), len, p), 0, len), 1);
  EXPECT_EQ(row_count(run(tokens, t, len, params(kWeightInverseT)), 0, len), 0);
  EXPECT_EQ(row_count(run(tokens, t, len, params(kWeightNone)), 0, len), 0);
}

TEST(MdmMaskCpu, NoneWeightsEveryPositionWhileStillCorruptingInputs) {
  const int64_t rows = 3, len = 41;
  const std::vector<float> t = {0.0f, 0.4f, 0.9f};
  MaskParams p = params(kWeightNone);
  p.norm_len = 40;
  const auto tokens = make_tokens(rows, len);
  const Masked m = run(tokens, t, len, p);
  const float w = p.scale / 40.0f;
  for (int64_t i = 0; i < rows * len; ++i) {
    ASSERT_EQ(m.weight[i], w) << i;
    ASSERT_EQ(m.noisy[i], m.mask[i] ? kMaskId : tokens[i]);
  }
  EXPECT_EQ(row_count(m, 0, len), 0);
  EXPECT_GT(row_count(m, 2, len), 25);
  // The corruption is the same as in the other modes: one mask decision for all weightings.
  EXPECT_EQ(m.mask, run(tokens, t, len, params(kWeightInverseT)).mask);
}

// The host's count of a batch's nonzero weights (kept on a GPU run so the loss head needs no
// sync) is the number the kernel's draws give, forced masks included.
TEST(MdmMaskCpu, TheHostCountIsTheNumberOfNonzeroWeights) {
  const int64_t len = 37;  // not a multiple of 4: the last draw is partly used
  const std::vector<float> t = {0.0f, 1e-4f, 0.03f, 0.5f, 0.97f, 1.0f, 0.25f};
  for (int weighting : {kWeightInverseT, kWeightMaskFraction, kWeightNone}) {
    MaskParams p = params(weighting);
    p.global_row0 = 1000;
    if (weighting == kWeightInverseT) p.norm_len = len;
    const std::vector<float> tt = weighting == kWeightInverseT
                                      ? std::vector<float>(t.begin() + 1, t.end())  // 1/t: no t = 0
                                      : t;
    const Masked m = run(make_tokens(static_cast<int64_t>(tt.size()), len), tt, len, p);
    const int64_t nonzero = std::count_if(m.weight.begin(), m.weight.end(),
                                          [](float w) { return w != 0; });
    EXPECT_EQ(mdm_mask_count_cpu(tt.data(), static_cast<int64_t>(tt.size()), len, p), nonzero)
        << "weighting " << weighting;
  }
}

}  // namespace
}  // namespace crossover::kernels
