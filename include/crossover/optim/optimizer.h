// AdamW on flat parameter buffers. A slot is one buffer (a whole parameter group, or this rank's
// shard of it under FSDP) with its gradient and moments; weight decay applies to the segments
// of the slot that hold decayed parameters (matrices), not to norms and embeddings by default.
// Updates follow PyTorch's AdamW exactly (decoupled decay, bias correction).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "crossover/config/config.h"
#include "crossover/kernels/adamw_cpu.h"

namespace crossover {

// Elements of a slot that weight decay applies to: [offset, offset + length).
using DecaySegment = kernels::DecayRange;

struct OptimizerSlot {
  at::Tensor param;       // fp32 master values (updated in place)
  at::Tensor grad;        // same shape, fp32
  at::Tensor exp_avg;     // first moment
  at::Tensor exp_avg_sq;  // second moment
  std::vector<DecaySegment> decay;
};

class AdamW {
 public:
  explicit AdamW(const OptimizerConfig& config) : config_(config) {}
  // Takes a slot; moments are created (zeros) when undefined.
  void add_slot(OptimizerSlot slot);
  std::vector<OptimizerSlot>& slots() { return slots_; }
  const std::vector<OptimizerSlot>& slots() const { return slots_; }

  // Sum of squared gradients of this process's slots, a 0-dim fp64 tensor on their device
  // (summed over ranks for a sharded model). Computed on the device: no host sync.
  at::Tensor local_grad_sq() const;
  // Multiplies every gradient by `factor` (gradient clipping).
  void scale_grads(double factor);
  void zero_grads();
  // One AdamW update at learning rate `lr`.
  void step(double lr);
  int64_t steps_taken() const { return steps_; }
  void set_steps_taken(int64_t n) { steps_ = n; }

 private:
  OptimizerConfig config_;
  std::vector<OptimizerSlot> slots_;
  int64_t steps_ = 0;
};

// One slot's AdamW update (step `step`, counted from 1) and its gradient's sum of squares, two
// ways each: composed LibTorch ops (any device and dtype), and single passes over fp32 CPU slots
// (kernels/adamw_cpu.h) that read and write each element once where the composed update makes
// 7-9 passes and a temporary. AdamW uses the passes wherever they apply; the tests hold them to
// the composed versions and to a reference in double.
bool adamw_cpu_applies(const OptimizerSlot& slot);
// 1 - beta1^step and 1 - beta2^step, which both updates divide by.
std::pair<double, double> adamw_bias_corrections(const OptimizerConfig& config, int64_t step);
void adamw_update_composed(OptimizerSlot& slot, const OptimizerConfig& config, double lr,
                           int64_t step);
void adamw_update_cpu(OptimizerSlot& slot, const OptimizerConfig& config, double lr, int64_t step);
// Sum of squares of a gradient as a 0-dim fp64 tensor on its device (accumulated in fp64, via
// an fp64 copy of the gradient: the reference).
at::Tensor grad_sq_composed(const at::Tensor& grad);
// The same without the fp64 copy, for gradients on a GPU: fp32 partial sums over fixed chunks
// of kGradSqChunk elements (a norm per chunk, reduced on the device), then the chunks' squares
// summed in fp64. Within 1e-5 relative of grad_sq_composed (a few 1e-6 measured on the CPU).
constexpr int64_t kGradSqChunk = 1 << 16;
at::Tensor grad_sq_device(const at::Tensor& grad);

// LibTorch 2.x's fused multi-tensor AdamW (at::_fused_adamw_) over every slot in one call
// per weight-decay class. adamw_fused_available: this build has the op and these slots can take
// it (fp32, contiguous, all on one CUDA device; `allow_cpu` also accepts CPU slots where the
// op has a CPU kernel, for tests). AdamW::step uses it for CUDA slots.
bool adamw_fused_available(const std::vector<OptimizerSlot>& slots, bool allow_cpu = false);
void adamw_update_fused(std::vector<OptimizerSlot>& slots, const OptimizerConfig& config, double lr,
                        int64_t step);
// The same for a CPU fp32 gradient (AdamW::local_grad_sq takes it for those) in fixed chunks of
// elements, so the sum's rounding does not depend on the number of threads.
at::Tensor grad_sq_cpu(const at::Tensor& grad);

// The clipping factor for a global gradient norm: min(1, max_norm / (norm + 1e-6)); 1 when
// clipping is off (max_norm == 0).
double clip_factor(double grad_norm, double max_norm);

}  // namespace crossover
