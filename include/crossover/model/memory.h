// The GPU memory of a training step, from the shapes: what each rank holds for the optimizer,
// the parameter copies the forward uses, and the activations kept for backward, counted tensor
// by tensor as the GPU path of model/transformer.cpp and model/loss_head.cpp keeps them. `sweep
// plan` prints it per point and docs/distributed.md tabulates it for the shipped configs.
//
// Counted: tensors the step allocates (what the CUDA caching allocator reports as allocated).
// Not counted: the CUDA context, cuBLAS and NCCL workspaces and allocator fragmentation; these
// are what the margin (`fits`) is for.
#pragma once

#include <cstdint>
#include <string>

#include "crossover/config/config.h"

namespace crossover {

// The kernels the count assumes (model/transformer.h: kFusedRmsNorm, kSdpaGqa; sdpa needs
// LibTorch 2.0). The defaults are those of a CUDA build on LibTorch >= 2.8 (the pinned 2.11),
// what cluster runs use; `gpu_kernels_of_this_build()` gives this binary's.
struct AttentionKernels {
  bool sdpa = true;         // flash / memory-efficient attention: no [T, T] scores are kept
  bool fused_norms = true;  // at::rms_norm keeps its input and 1/rms only
  bool sdpa_gqa = true;     // grouped keys and values are not repeated per query head
};
AttentionKernels gpu_kernels_of_this_build();

// Bytes one transformer block keeps for backward per token, everything saved (recompute none),
// with `compute_bytes` per activation element (2 for bf16/fp16, 4 for fp32). Dropout > 0 adds
// its masks and takes the plain attention path (whose [T, T] probabilities count per token).
int64_t block_activation_bytes_per_token(const ModelConfig& m, int64_t seq_len,
                                         int64_t compute_bytes, const AttentionKernels& kernels);

struct StepMemory {
  // fp32 parameters, gradients and the two Adam moments of this rank (16 bytes per parameter,
  // divided by the world size under fsdp), plus fsdp's full fp32 gradients with
  // grad_reduce: step.
  double optimizer_state = 0;
  // Parameters in the compute dtype while the step runs: ddp's copy of every group; fsdp's
  // gathered groups (the embedding group, and with recompute full the block running, the one
  // prefetched and up to three full gradients being reduce-scattered; with recompute none every
  // block from its forward to its backward).
  double parameter_copies = 0;
  // Kept for backward over a micro-batch: every block's activations (recompute none), or every
  // block's input plus one block's activations recomputed in backward (recompute full).
  double activations = 0;
  // The largest transient of a block's backward: the gradients of its widest activations.
  double backward_workspace = 0;
  // The fused LM head: its hidden-state and head gradients computed in forward, one chunk of
  // logits, and the final norm's input.
  double loss_head = 0;
  double total() const {
    return optimizer_state + parameter_copies + activations + backward_workspace + loss_head;
  }
  int64_t activation_bytes_per_token_per_layer = 0;  // block_activation_bytes_per_token
  bool recompute = false;
};

// The memory of `config`'s step on one of `world` ranks, for a model over `vocab` tokens.
// Throws std::invalid_argument for world < 1 or vocab < 1.
StepMemory step_memory(const RunConfig& config, int64_t vocab, int64_t world,
                       const AttentionKernels& kernels = {});

// "fits: 38.2 of 80 GB (52% free)" or "does not fit: ..." against `device_gb` (decimal GB), and
// whether at least `margin` (a fraction) of the device is left.
bool fits(const StepMemory& m, double device_gb, double margin);
std::string describe_fit(const StepMemory& m, double device_gb);

}  // namespace crossover
