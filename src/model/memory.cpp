#include "crossover/model/memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "crossover/model/flops.h"
#include "crossover/model/transformer.h"

namespace crossover {

AttentionKernels gpu_kernels_of_this_build() {
  return {.sdpa = kHaveSdpa, .fused_norms = kFusedRmsNorm, .sdpa_gqa = kSdpaGqa};
}

namespace {

// What rms_norm keeps for backward per row of width n: the fused kernel its input and 1/rms; the
// composition an fp32 copy of the input (the input itself when already fp32), 1/rms, and the
// normalised output for the weight's gradient.
int64_t norm_bytes(int64_t n, int64_t e, bool fused) {
  return fused ? n * e + 4 : n * 4 + 4 + n * e;
}

}  // namespace

int64_t block_activation_bytes_per_token(const ModelConfig& m, int64_t seq_len,
                                         int64_t compute_bytes, const AttentionKernels& kernels) {
  const int64_t e = compute_bytes, d = m.d_model, H = m.heads, KV = m.kv_heads_resolved();
  const int64_t hd = m.head_dim(), dq = H * hd, dkv = KV * hd, F = m.ffn_hidden_resolved();
  const bool dropout = m.dropout > 0;
  // Dropout takes the plain path, as model.attention: plain does.
  const bool sdpa = kernels.sdpa && !dropout && m.attention != AttentionImpl::kPlain;
  int64_t bytes = 0;
  // Repeated per query head: keys and values where sdpa cannot take them grouped.
  const bool repeats = H != KV && !(sdpa && kernels.sdpa_gqa);
  // qkv stays whole while a view of it is kept: v by sdpa, the q/k inputs by the fused norms.
  // The plain path copies v (a strided view) before its GEMM and keeps only the copy.
  const bool qkv_kept = (sdpa && !repeats) || (m.qk_norm && kernels.fused_norms);
  // Attention half: the input norm, the qkv GEMM's input, qkv when kept.
  bytes += norm_bytes(d, e, kernels.fused_norms);
  bytes += d * e;  // h, for the qkv GEMM's weight gradient
  if (qkv_kept) bytes += (dq + 2 * dkv) * e;
  if (m.qk_norm) {
    // Fused: the inputs are views of qkv; only 1/rms per head. Composed: an fp32 copy (none in
    // fp32, where the view is used) and the normalised q and k.
    bytes += kernels.fused_norms ? 4 * (H + KV)
                                 : (e == 4 ? 0 : 4 * (dq + dkv)) + (dq + dkv) * e + 4 * (H + KV);
  }
  // RoPE keeps only its cos/sin tables; attention keeps q, k and v as it got them, and its
  // output (sdpa's, which the out-projection views; the plain path's transposed copy).
  bytes += dq * e;  // q after RoPE
  if (repeats) {
    bytes += 2 * dq * e;  // k and v repeated
  } else {
    bytes += dkv * e;             // k after RoPE
    if (!sdpa) bytes += dkv * e;  // the plain path's contiguous copy of v
  }
  bytes += dq * e;  // the output
  if (sdpa) {
    bytes += 4 * H;  // log-sum-exp per head
  } else {
    // Plain: the fp32 softmax output and its compute-dtype copy over every key, and dropout's
    // scale on the probabilities.
    bytes += H * seq_len * (4 + e) + (dropout ? H * seq_len * e : 0);
  }
  if (dropout) bytes += 2 * d * e;  // the scales of the two residual branches
  // FFN half: the norm (input x1), the gate/up GEMM's input, [gate | up], silu(gate), and the
  // down projection's input.
  bytes += norm_bytes(d, e, kernels.fused_norms);
  bytes += d * e;
  bytes += 2 * F * e + F * e + F * e;
  return bytes;
}

StepMemory step_memory(const RunConfig& c, int64_t vocab, int64_t world,
                       const AttentionKernels& kernels) {
  if (world < 1) throw std::invalid_argument("step_memory: world size must be >= 1");
  if (vocab < 1) throw std::invalid_argument("step_memory: vocabulary must be >= 1");
  const ModelConfig& m = c.model;
  const ParamCount params = count_parameters(m, vocab);
  const int64_t e = c.hardware.precision == PrecisionChoice::kFp32 ? 4 : 2;
  const int64_t micro = c.training.micro_batch > 0
                            ? c.training.micro_batch
                            : std::max<int64_t>(1, c.training.global_batch / world);
  const double tokens = static_cast<double>(micro) * c.data.seq_len;
  const bool fsdp = c.distributed.sharding == ShardingKind::kFsdp;
  const double P = static_cast<double>(params.total);
  const double block = static_cast<double>(params.per_block);
  const double group0 = static_cast<double>(params.total - params.blocks);
  const double reduce_bytes = c.distributed.reduce_dtype == ReduceDtype::kBf16 ? 2.0 : 4.0;

  StepMemory s;
  s.recompute = c.distributed.recomputes();
  s.optimizer_state = 16.0 * (fsdp ? P / world : P);
  if (fsdp && c.distributed.grad_reduce == GradReduce::kStep) s.optimizer_state += 4.0 * P;
  if (fsdp) {
    // The embedding group stays gathered over the micro-batch; blocks come and go.
    const double blocks_held = s.recompute ? 2.0 : static_cast<double>(m.layers) + 1.0;
    s.parameter_copies = (group0 + blocks_held * block) * e + 3.0 * block * reduce_bytes;
  } else if (e != 4) {
    s.parameter_copies = P * e;  // the compute-dtype copy of every group
  }
  const int64_t per_token = block_activation_bytes_per_token(m, c.data.seq_len, e, kernels);
  s.activation_bytes_per_token_per_layer = per_token;
  s.activations = s.recompute ? tokens * (m.layers * m.d_model * e + per_token)
                              : tokens * m.layers * per_token;
  const double F = m.ffn_hidden_resolved();
  s.backward_workspace = tokens * e * (3.0 * F + 2.0 * m.d_model);
  // The head: dhidden [rows, d] and dhead [vocab, d] fp32 from the forward, one chunk of fp32
  // logits (loss_head.cpp sizes GPU chunks at 128M elements), the final norm's input.
  const double chunk = std::min(128.0 * (1 << 20), tokens * vocab);
  s.loss_head = tokens * m.d_model * e + static_cast<double>(vocab) * m.d_model * 4.0 +
                chunk * 4.0 + norm_bytes(m.d_model, e, kernels.fused_norms) * tokens;
  return s;
}

bool fits(const StepMemory& m, double device_gb, double margin) {
  return m.total() <= device_gb * 1e9 * (1.0 - margin);
}

std::string describe_fit(const StepMemory& m, double device_gb) {
  const double free = 1.0 - m.total() / (device_gb * 1e9);
  return fmt::format("{}: {:.1f} of {:.0f} GB ({:.0f}% free)", free >= 0 ? "fits" : "does not fit",
                     m.total() / 1e9, device_gb, 100 * free);
}

}  // namespace crossover
