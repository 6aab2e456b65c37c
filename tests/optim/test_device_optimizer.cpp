// The optimizer's device paths, held to their references on the CPU they share: the gradient
// norm from fp32 partial sums (no fp64 copy of the gradient) and, on LibTorch 2.x, the fused
// multi-tensor AdamW (at::_fused_adamw_, which has a CPU kernel too) against the composed update.
// Where a GPU is present, the same on CUDA.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/version.h>

#include <cmath>
#include <functional>

#include "crossover/optim/optimizer.h"

namespace crossover {
namespace {

TEST(DeviceOptimizer, Fp32PartialSumsGiveTheFp64NormAndTheSameClip) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  // Below one chunk, exactly chunks, chunks and a tail; magnitudes that span the range.
  for (int64_t n : {int64_t{1}, int64_t{1000}, kGradSqChunk, kGradSqChunk + 1, 3 * kGradSqChunk + 5,
                    int64_t{300001}}) {
    const at::Tensor g = at::randn({n}, gen) * at::exp(at::randn({n}, gen) * 3) * 1e-3;
    // fp32 accumulation over a chunk: a few 1e-6 relative on LibTorch 1.13's CPU kernel (a
    // GPU's tree reduction does better), far below what clipping at ~1.0 can tell apart.
    const double reference = grad_sq_composed(g).item<double>();
    const double partial = grad_sq_device(g).item<double>();
    EXPECT_NEAR(partial, reference, 1e-5 * reference) << n;
    const double clip = 0.01 * std::sqrt(reference);  // clipping on
    const double factor = clip_factor(std::sqrt(reference), clip);
    EXPECT_NEAR(clip_factor(std::sqrt(partial), clip), factor, 1e-5 * factor) << n;
  }
  // A bf16 gradient is reduced in fp32 as well.
  const at::Tensor g16 = (at::randn({70001}, gen) * 1e-2).to(at::kBFloat16);
  EXPECT_NEAR(grad_sq_device(g16).item<double>(), grad_sq_composed(g16).item<double>(),
              1e-5 * grad_sq_composed(g16).item<double>());
  EXPECT_EQ(grad_sq_device(at::zeros({5})).item<double>(), 0.0);
}

// Two slots like a model's groups: decayed segments between undecayed ones.
std::vector<OptimizerSlot> make_slots(at::Device device, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<OptimizerSlot> slots;
  for (int64_t n : {int64_t{5003}, int64_t{777}}) {
    OptimizerSlot s;
    s.param = at::randn({n}, gen).to(device);
    s.grad = at::zeros({n}).to(device);
    s.exp_avg = at::zeros({n}).to(device);
    s.exp_avg_sq = at::zeros({n}).to(device);
    s.decay = n > 1000 ? std::vector<DecaySegment>{{100, 2000}, {3000, 2003}}
                       : std::vector<DecaySegment>{{0, 300}};
    slots.push_back(s);
  }
  return slots;
}

void expect_close(const std::vector<OptimizerSlot>& got, const std::vector<OptimizerSlot>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    for (auto [a, b] : {std::pair{got[i].param, want[i].param},
                        {got[i].exp_avg, want[i].exp_avg},
                        {got[i].exp_avg_sq, want[i].exp_avg_sq}})
      EXPECT_LE((a.cpu() - b.cpu()).abs().max().item<double>(), 1e-6) << "slot " << i;
}

// Runs 3 steps of `update` on `slots` and of the composed update on a CPU copy.
void compare_with_composed(
    std::vector<OptimizerSlot> slots,
    const std::function<void(std::vector<OptimizerSlot>&, int64_t)>& update) {
  OptimizerConfig o;
  o.weight_decay = 0.1;
  std::vector<OptimizerSlot> reference = make_slots(at::kCPU, 5);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(6);
  for (int64_t step = 1; step <= 3; ++step) {
    for (size_t i = 0; i < slots.size(); ++i) {
      const at::Tensor g = at::randn({slots[i].param.numel()}, gen) * 0.1;
      slots[i].grad.copy_(g);
      reference[i].grad.copy_(g);
      adamw_update_composed(reference[i], o, 0.01, step);
    }
    update(slots, step);
  }
  expect_close(slots, reference);
}

TEST(DeviceOptimizer, FusedAdamWIsChosenForGpuSlotsOnLibTorch2) {
  std::vector<OptimizerSlot> cpu = make_slots(at::kCPU, 5);
  EXPECT_FALSE(adamw_fused_available(cpu)) << "the CPU keeps its one-pass update";
#if TORCH_VERSION_MAJOR >= 2
  EXPECT_TRUE(adamw_fused_available(cpu, /*allow_cpu=*/true));
  cpu[1].exp_avg = cpu[1].exp_avg.to(at::kDouble);
  EXPECT_FALSE(adamw_fused_available(cpu, true)) << "fp32 slots only";
#else
  EXPECT_FALSE(adamw_fused_available(cpu, /*allow_cpu=*/true)) << "no at::_fused_adamw_ before 2.0";
  OptimizerConfig o;
  EXPECT_THROW(adamw_update_fused(cpu, o, 0.01, 1), std::logic_error);
#endif
}

#if TORCH_VERSION_MAJOR >= 2
TEST(DeviceOptimizer, FusedAdamWOnTheCpuMatchesTheComposedUpdate) {
  OptimizerConfig o;
  o.weight_decay = 0.1;
  compare_with_composed(make_slots(at::kCPU, 5), [&](std::vector<OptimizerSlot>& s, int64_t step) {
    adamw_update_fused(s, o, 0.01, step);
  });
}
#endif

TEST(DeviceOptimizer, OnAGpuAdamWAndTheNormMatchTheReference) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  OptimizerConfig o;
  o.weight_decay = 0.1;
  AdamW adam(o);
  for (auto& s : make_slots(at::Device(at::kCUDA, 0), 5)) adam.add_slot(s);
  compare_with_composed(adam.slots(), [&](std::vector<OptimizerSlot>& s, int64_t step) {
    ASSERT_EQ(adam.steps_taken(), step - 1);
    for (size_t i = 0; i < s.size(); ++i) adam.slots()[i].grad.copy_(s[i].grad);
    adam.step(0.01);
    for (size_t i = 0; i < s.size(); ++i) s[i] = adam.slots()[i];
  });
  const at::Tensor g = at::randn({200003}) * 1e-2;
  const double reference = grad_sq_composed(g).item<double>();
  EXPECT_NEAR(grad_sq_device(g.cuda()).item<double>(), reference, 1e-5 * reference);
}

}  // namespace
}  // namespace crossover
