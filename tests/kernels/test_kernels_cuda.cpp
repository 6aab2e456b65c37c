// The CUDA kernels against their CPU references: mdm_mask bit for bit (masks, noisy ids and
// weights, every weighting, odd lengths), dropout_scale bit for bit, weighted CE within 1e-5 relative in fp32 and within
// 1e-3 relative (or one bf16 ulp, the output's own rounding) in bf16. Every test skips in a build
// without CUDA (-DCROSSOVER_CUDA=ON adds it) and on a machine without a CUDA device.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#ifdef CROSSOVER_WITH_CUDA
#include <ATen/CPUGeneratorImpl.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "crossover/kernels/dropout_mask.h"
#include "crossover/kernels/mdm_mask.h"
#include "crossover/kernels/philox.h"
#include "crossover/kernels/weighted_ce.h"
#endif

namespace crossover::kernels {
namespace {

class KernelsCuda : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef CROSSOVER_WITH_CUDA
    GTEST_SKIP() << "built without CUDA (configure with -DCROSSOVER_CUDA=ON)";
#else
    if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
#endif
  }
};

#ifdef CROSSOVER_WITH_CUDA

void* current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

// ---- mdm_mask -------------------------------------------------------------------------------

struct MaskRun {
  at::Tensor noisy, mask, weight;  // on the CPU
};

MaskRun mask_cpu(const at::Tensor& tokens, const at::Tensor& t, const MaskParams& p) {
  const int64_t rows = tokens.size(0), len = tokens.size(1);
  MaskRun out{at::empty_like(tokens), at::empty({rows, len}, at::kByte),
              at::empty({rows, len}, at::kFloat)};
  mdm_mask_cpu(tokens.data_ptr<int64_t>(), t.data_ptr<float>(), rows, len, p,
               out.noisy.data_ptr<int64_t>(), out.mask.data_ptr<uint8_t>(),
               out.weight.data_ptr<float>());
  return out;
}

// in_place: the kernel writes the noisy ids over its copy of the tokens.
MaskRun mask_cuda(const at::Tensor& tokens, const at::Tensor& t, const MaskParams& p,
                  bool in_place) {
  const int64_t rows = tokens.size(0), len = tokens.size(1);
  const at::Tensor d_tokens = tokens.to(at::kCUDA), d_t = t.to(at::kCUDA);
  at::Tensor d_noisy = in_place ? d_tokens : at::empty_like(d_tokens);
  at::Tensor d_mask = at::empty({rows, len}, d_tokens.options().dtype(at::kByte));
  at::Tensor d_weight = at::empty({rows, len}, d_tokens.options().dtype(at::kFloat));
  mdm_mask_cuda(d_tokens.data_ptr<int64_t>(), d_t.data_ptr<float>(), rows, len, p,
                d_noisy.data_ptr<int64_t>(), d_mask.data_ptr<uint8_t>(), d_weight.data_ptr<float>(),
                current_stream());
  // .to(kCPU) runs on the current stream after the kernel and waits for it.
  return {d_noisy.to(at::kCPU), d_mask.to(at::kCPU), d_weight.to(at::kCPU)};
}

TEST_F(KernelsCuda, MdmMaskBitIdenticalToCpuInEveryMode) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  // Lengths not multiples of 4, shorter than a warp, and longer than one pass of the block.
  for (int64_t len : {1, 3, 7, 33, 1000, 2051, 4099}) {
    const int64_t rows = 37;
    const at::Tensor tokens = at::randint(4, 50000, {rows, len}, gen, at::kLong);
    at::Tensor t = at::rand({rows}, gen, at::kFloat);
    t[0].fill_(0.0f);
    t[1].fill_(1.0f);
    t.narrow(0, 2, 8).fill_(1e-9f);  // rows that draw no mask: forced in mask-fraction mode
    for (int weighting : {kWeightInverseT, kWeightMaskFraction, kWeightNone}) {
      for (int64_t norm_len : {int64_t{0}, int64_t{2048}}) {
        MaskParams p;
        p.seed = 0x5eed5eed1234ull;
        p.step = (1ull << 33) + 5;  // high words of step and row take part in the counter
        p.global_row0 = (1ll << 32) + 1000003;
        p.mask_id = 50000;
        p.stream = kStreamTokenMask;
        p.weighting = weighting;
        p.scale = 1.0f / 37.0f;
        p.norm_len = norm_len;
        const MaskRun want = mask_cpu(tokens, t, p);
        for (bool in_place : {false, true}) {
          const MaskRun got = mask_cuda(tokens, t, p, in_place);
          SCOPED_TRACE(::testing::Message()
                       << "len " << len << " weighting " << weighting << " norm_len " << norm_len
                       << " in_place " << in_place);
          EXPECT_TRUE(at::equal(got.mask, want.mask));
          EXPECT_TRUE(at::equal(got.noisy, want.noisy));
          // Bitwise, not numerically: compare the float bits.
          EXPECT_TRUE(at::equal(got.weight.view(at::kInt), want.weight.view(at::kInt)));
        }
      }
    }
  }
}

TEST_F(KernelsCuda, MdmMaskHandlesEmptyBatches) {
  // No rows or no columns: nothing to launch (a zero-sized grid is a launch error) and nothing
  // read through the null pointers; the stream stays usable and the next batch is still exact.
  MaskParams p;
  p.mask_id = 99;
  mdm_mask_cuda(nullptr, nullptr, 0, 16, p, nullptr, nullptr, nullptr, current_stream());
  mdm_mask_cuda(nullptr, nullptr, 4, 0, p, nullptr, nullptr, nullptr, current_stream());
  EXPECT_EQ(cudaStreamSynchronize(static_cast<cudaStream_t>(current_stream())), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor tokens = at::randint(4, 90, {3, 17}, gen, at::kLong);
  const at::Tensor t = at::rand({3}, gen, at::kFloat);
  const MaskRun want = mask_cpu(tokens, t, p);
  const MaskRun got = mask_cuda(tokens, t, p, false);
  EXPECT_TRUE(at::equal(got.noisy, want.noisy));
  EXPECT_TRUE(at::equal(got.mask, want.mask));
}

TEST_F(KernelsCuda, AnErrorLeftByEarlierWorkIsNotBlamedOnTheKernel) {
  // A failed allocation leaves cudaErrorMemoryAllocation as the thread's last error (not sticky).
  void* p = nullptr;
  ASSERT_NE(cudaMalloc(&p, size_t{1} << 62), cudaSuccess);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor tokens = at::randint(4, 90, {2, 8}, gen, at::kLong).to(at::kCUDA);
  const at::Tensor t = at::rand({2}, gen, at::kFloat).to(at::kCUDA);
  at::Tensor noisy = at::empty_like(tokens), weight = at::empty({2, 8}, t.options());
  at::Tensor mask = at::empty({2, 8}, tokens.options().dtype(at::kByte));
  MaskParams params;
  params.mask_id = 99;
  try {
    mdm_mask_cuda(tokens.data_ptr<int64_t>(), t.data_ptr<float>(), 2, 8, params,
                  noisy.data_ptr<int64_t>(), mask.data_ptr<uint8_t>(), weight.data_ptr<float>(),
                  current_stream());
    ADD_FAILURE() << "a pending error was not reported";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("mdm_mask_cuda: not launched"), std::string::npos) << what;
    EXPECT_NE(what.find("cudaErrorMemoryAllocation"), std::string::npos) << what;
  }
  // Reported, not cleared: the error is still there for its owner; cleared, the kernel runs.
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
  mdm_mask_cuda(tokens.data_ptr<int64_t>(), t.data_ptr<float>(), 2, 8, params,
                noisy.data_ptr<int64_t>(), mask.data_ptr<uint8_t>(), weight.data_ptr<float>(),
                current_stream());
  EXPECT_EQ(cudaStreamSynchronize(static_cast<cudaStream_t>(current_stream())), cudaSuccess);
}

// ---- weighted cross-entropy -----------------------------------------------------------------

struct CeCase {
  int64_t rows, V, ld, num_valid;
  float grad_scale;
};

struct CeInputs {
  at::Tensor logits, targets, weights;  // CPU: [rows, ld] float, [rows] int64, [rows] float
};

CeInputs ce_inputs(const CeCase& c, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  CeInputs in{at::randn({c.rows, c.ld}, gen, at::kFloat) * 4.0,
              at::randint(0, c.num_valid, {c.rows}, gen, at::kLong),
              at::rand({c.rows}, gen, at::kFloat) + 0.5};
  for (int64_t r = 2; r < c.rows; r += 5) in.weights[r].fill_(0.0f);
  return in;
}

// The CPU reference on fp32 logits; returns {dlogits [rows, ld], loss [rows]}.
std::pair<at::Tensor, at::Tensor> ce_cpu(const at::Tensor& logits, const CeInputs& in,
                                         const CeCase& c) {
  at::Tensor d = logits.to(at::kFloat).clone(), loss = at::empty({c.rows}, at::kFloat);
  weighted_ce_cpu(d.data_ptr<float>(), c.rows, c.V, c.ld, c.num_valid,
                  in.targets.data_ptr<int64_t>(), in.weights.data_ptr<float>(), c.grad_scale,
                  loss.data_ptr<float>());
  return {d, loss};
}

// The CUDA kernel on a device copy of `logits` (fp32 or bf16); returns them on the CPU.
std::pair<at::Tensor, at::Tensor> ce_cuda(const at::Tensor& logits, const CeInputs& in,
                                          const CeCase& c) {
  at::Tensor d = logits.to(at::kCUDA);
  const at::Tensor targets = in.targets.to(at::kCUDA), weights = in.weights.to(at::kCUDA);
  at::Tensor loss = at::empty({c.rows}, weights.options());
  if (d.scalar_type() == at::kFloat) {
    weighted_ce_cuda_f32(d.data_ptr<float>(), c.rows, c.V, c.ld, c.num_valid,
                         targets.data_ptr<int64_t>(), weights.data_ptr<float>(), c.grad_scale,
                         loss.data_ptr<float>(), current_stream());
  } else {
    weighted_ce_cuda_bf16(reinterpret_cast<uint16_t*>(d.data_ptr<at::BFloat16>()), c.rows, c.V,
                          c.ld, c.num_valid, targets.data_ptr<int64_t>(), weights.data_ptr<float>(),
                          c.grad_scale, loss.data_ptr<float>(), current_stream());
  }
  return {d.to(at::kCPU), loss.to(at::kCPU)};
}

// |got - want| <= tol(want) elementwise over the first V columns; columns >= V must be equal.
template <typename Tol>
void expect_close(const at::Tensor& got, const at::Tensor& want, int64_t V, Tol tol,
                  const char* what) {
  const at::Tensor g = got.to(at::kFloat).contiguous(), w = want.to(at::kFloat).contiguous();
  const int64_t rows = g.size(0), ld = g.size(1);
  const float* gp = g.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < ld; ++c) {
      const float a = gp[r * ld + c], b = wp[r * ld + c];
      const double limit = c < V ? tol(r, b) : 0.0;
      ASSERT_LE(std::abs(double(a) - double(b)), limit)
          << what << " row " << r << " column " << c << ": got " << a << ", want " << b;
    }
  }
}

const CeCase kCeCases[] = {
    {64, 50304, 50304, 50257, 1.0f},  // 16-byte packs, [MASK] and padding excluded
    {33, 32001, 32001, 32000, 0.5f},  // odd row stride: one element at a time
    {17, 1000, 1024, 999, 2.0f},      // padded rows: columns 1000..1023 must not be touched
    {5, 37, 40, 37, 1.0f},            // fewer columns than a warp per pack
};

TEST_F(KernelsCuda, WeightedCeFp32MatchesCpuWithin1e5) {
  uint64_t seed = 100;
  for (const CeCase& c : kCeCases) {
    SCOPED_TRACE(::testing::Message() << "rows " << c.rows << " V " << c.V << " ld " << c.ld);
    const CeInputs in = ce_inputs(c, ++seed);
    const auto [want_d, want_loss] = ce_cpu(in.logits, in, c);
    const auto [got_d, got_loss] = ce_cuda(in.logits, in, c);
    const float* w = in.weights.data_ptr<float>();
    expect_close(
        got_loss.unsqueeze(1), want_loss.unsqueeze(1), 1,
        [&](int64_t, float b) { return 1e-5 * std::abs(b) + 1e-7; }, "loss");
    // Floor: a few ulps of w * grad_scale, the cancellation in the target column.
    expect_close(
        got_d, want_d, c.V,
        [&](int64_t r, float b) {
          return 1e-5 * std::abs(b) + 1e-6 * std::abs(w[r] * c.grad_scale);
        },
        "dlogits");
  }
}

// One unit in the last place of bf16 at |b| (8 significant bits).
double bf16_ulp(float b) {
  if (b == 0.0f) return 0.0;
  int exponent;
  std::frexp(b, &exponent);  // |b| = m * 2^exponent, m in [0.5, 1)
  return std::ldexp(1.0, exponent - 8);
}

TEST_F(KernelsCuda, WeightedCeBf16MatchesCpuOnRoundedLogitsWithin1e3) {
  uint64_t seed = 200;
  for (const CeCase& c : kCeCases) {
    SCOPED_TRACE(::testing::Message() << "rows " << c.rows << " V " << c.V << " ld " << c.ld);
    const CeInputs in = ce_inputs(c, ++seed);
    const at::Tensor bf16 = in.logits.to(at::kBFloat16);
    // The reference sees exactly the values the kernel sees: the bf16-rounded logits in fp32.
    const auto [want_d, want_loss] = ce_cpu(bf16.to(at::kFloat), in, c);
    const auto [got_d, got_loss] = ce_cuda(bf16, in, c);
    ASSERT_EQ(got_d.scalar_type(), at::kBFloat16);
    const float* w = in.weights.data_ptr<float>();
    expect_close(
        got_loss.unsqueeze(1), want_loss.unsqueeze(1), 1,
        [&](int64_t, float b) { return 1e-3 * std::abs(b) + 1e-6; }, "loss");
    // The kernel rounds its fp32 dlogits to bf16 once; compare with the reference rounded the
    // same way: equal, or one bf16 ulp apart where the two fp32 values straddle a rounding
    // boundary. 1e-3 relative alone is tighter than bf16's own resolution (2^-8).
    const at::Tensor want_rounded = want_d.to(at::kBFloat16).to(at::kFloat);
    expect_close(
        got_d, want_rounded, c.V,
        [&](int64_t r, float b) {
          return std::max(1e-3 * std::abs(b), bf16_ulp(b)) + 1e-6 * std::abs(w[r] * c.grad_scale);
        },
        "dlogits");
  }
}

TEST_F(KernelsCuda, WeightedCeWeightZeroRowsAndExcludedColumns) {
  const CeCase c{10, 300, 304, 290, 1.0f};
  CeInputs in = ce_inputs(c, 300);             // rows 2 and 7 have weight 0
  in.logits.narrow(1, 290, 10).fill_(400.0f);  // excluded: must not enter the softmax
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    const at::Tensor logits = in.logits.to(dtype);
    const auto [d, loss] = ce_cuda(logits, in, c);
    const at::Tensor df = d.to(at::kFloat), lf = logits.to(at::kFloat);
    EXPECT_TRUE(at::all(df.narrow(1, 290, 10) == 0.0f).item<bool>());
    EXPECT_TRUE(at::equal(df.narrow(1, 300, 4), lf.narrow(1, 300, 4)));  // beyond V: untouched
    for (int64_t r : {2, 7}) {
      EXPECT_EQ(loss[r].item<float>(), 0.0f);
      EXPECT_TRUE(at::all(df[r].narrow(0, 0, 300) == 0.0f).item<bool>());
    }
    EXPECT_TRUE(at::isfinite(loss).all().item<bool>());
    EXPECT_GT(loss[0].item<float>(), 0.0f);
  }
}

// ---- dropout_scale ---------------------------------------------------------------------------

TEST_F(KernelsCuda, DropoutScaleBitIdenticalToCpu) {
  // Row lengths not a multiple of 4, rows past 2^32 and steps past 2^32 (the stream word's high
  // bits), and a p whose keep-scale is not exact.
  for (const auto& [rows, n] : {std::pair<int64_t, int64_t>{3, 4099}, {64, 128}, {1, 1}}) {
    DropoutParams p;
    p.seed = 1234;
    p.step = (uint64_t{1} << 32) + 7;
    p.row0 = (int64_t{1} << 32) - 1;
    p.stream = 16 + 3 * 5 + 2;
    p.p = 0.1f;
    p.keep_scale = static_cast<float>(1.0 / (1.0 - 0.1));
    at::Tensor cpu = at::empty({rows, n}, at::kFloat);
    dropout_scale_cpu(p, rows, n, cpu.data_ptr<float>());
    at::Tensor gpu = at::empty({rows, n}, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA));
    dropout_scale_cuda(p, rows, n, gpu.data_ptr<float>(), current_stream());
    const at::Tensor back = gpu.cpu();
    EXPECT_EQ(std::memcmp(back.data_ptr<float>(), cpu.data_ptr<float>(), cpu.nbytes()), 0)
        << rows << " x " << n;
    const double kept = (cpu != 0).to(at::kDouble).mean().item<double>();
    if (rows * n > 1000) EXPECT_NEAR(kept, 0.9, 0.02);
  }
}

#else

// The same names as the CUDA build, so a run shows them skipped rather than absent.
TEST_F(KernelsCuda, DropoutScaleBitIdenticalToCpu) {}
TEST_F(KernelsCuda, MdmMaskBitIdenticalToCpuInEveryMode) {}
TEST_F(KernelsCuda, MdmMaskHandlesEmptyBatches) {}
TEST_F(KernelsCuda, AnErrorLeftByEarlierWorkIsNotBlamedOnTheKernel) {}
TEST_F(KernelsCuda, WeightedCeFp32MatchesCpuWithin1e5) {}
TEST_F(KernelsCuda, WeightedCeBf16MatchesCpuOnRoundedLogitsWithin1e3) {}
TEST_F(KernelsCuda, WeightedCeWeightZeroRowsAndExcludedColumns) {}

#endif

}  // namespace
}  // namespace crossover::kernels
