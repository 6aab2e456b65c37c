// The matmul peak is the MFU reference: its units must be FLOP/s of this machine.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "crossover/model/peak.h"

namespace crossover {
namespace {

TEST(MatmulPeak, IsAPlausibleCpuRateInFlopsPerSecond) {
  // A 1024^3 fp32 product is 2.1 GFLOP; any core this runs on does at least 1 GFLOP/s, and no
  // CPU socket does 100 TFLOP/s in fp32: a rate outside means wrong units or a lost factor.
  const double peak = measure_matmul_peak(at::Device(at::kCPU), at::kFloat, 0.2);
  EXPECT_GT(peak, 1e9);
  EXPECT_LT(peak, 1e14);
}

}  // namespace
}  // namespace crossover
