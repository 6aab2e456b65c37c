#include "crossover/kernels/ops.h"

#include <ATen/ATen.h>

#include <stdexcept>

#include "crossover/kernels/host_sync.h"
#include "crossover/kernels/weighted_ce.h"

#ifdef CROSSOVER_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace crossover::ops {

namespace {
void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(what);
}
#ifdef CROSSOVER_WITH_CUDA
// The current stream of the tensors' own device (not of whatever device is current): LibTorch
// queued the inputs there, and queues the outputs' next users there.
void* stream_of(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}
#endif
}  // namespace

Masked mdm_mask(const at::Tensor& tokens, const at::Tensor& t, const kernels::MaskParams& params) {
  require(tokens.dim() == 2 && tokens.scalar_type() == at::kLong,
          "mdm_mask: tokens must be [rows, len] int64");
  require(t.dim() == 1 && t.size(0) == tokens.size(0) && t.scalar_type() == at::kFloat,
          "mdm_mask: t must be [rows] float");
  const at::Tensor src = tokens.contiguous(), host_t = t.contiguous();
  // t is usually drawn on the host: it crosses without making the host wait for the device.
  const at::Tensor tt = to_device_async(host_t, tokens.device());
  Masked out{at::empty_like(src), at::empty(src.sizes(), src.options().dtype(at::kByte)),
             at::empty(src.sizes(), src.options().dtype(at::kFloat))};
  const int64_t rows = src.size(0), len = src.size(1);
  if (src.is_cuda()) {
#ifdef CROSSOVER_WITH_CUDA
    const c10::cuda::CUDAGuard guard(src.device());  // the launch targets the tensors' GPU
    kernels::mdm_mask_cuda(src.data_ptr<int64_t>(), tt.data_ptr<float>(), rows, len, params,
                           out.noisy.data_ptr<int64_t>(), out.mask.data_ptr<uint8_t>(),
                           out.weight.data_ptr<float>(), stream_of(src));
    if (host_t.is_cpu())
      out.signal = kernels::mdm_mask_count_cpu(host_t.data_ptr<float>(), rows, len, params);
#else
    throw std::runtime_error("mdm_mask: CUDA tensors need a build with -DCROSSOVER_CUDA=ON");
#endif
  } else {
    kernels::mdm_mask_cpu(src.data_ptr<int64_t>(), tt.data_ptr<float>(), rows, len, params,
                          out.noisy.data_ptr<int64_t>(), out.mask.data_ptr<uint8_t>(),
                          out.weight.data_ptr<float>());
  }
  out.mask = out.mask.to(at::kBool);
  return out;
}

at::Tensor weighted_ce_(at::Tensor& logits, const at::Tensor& targets, const at::Tensor& weights,
                        int64_t num_valid, float grad_scale) {
  require(logits.dim() == 2 && logits.is_contiguous(),
          "weighted_ce_: logits must be contiguous [rows, V]");
  const int64_t rows = logits.size(0), V = logits.size(1);
  require(num_valid > 0 && num_valid <= V, "weighted_ce_: num_valid out of range");
  const at::Tensor y = targets.to(logits.device(), at::kLong).contiguous();
  const at::Tensor w = weights.to(logits.device(), at::kFloat).contiguous();
  require(y.numel() == rows && w.numel() == rows, "weighted_ce_: one target and weight per row");
  at::Tensor loss = at::empty({rows}, logits.options().dtype(at::kFloat));
  if (logits.is_cuda()) {
#ifdef CROSSOVER_WITH_CUDA
    const c10::cuda::CUDAGuard guard(logits.device());  // the launch targets the tensors' GPU
    if (logits.scalar_type() == at::kBFloat16)
      kernels::weighted_ce_cuda_bf16(reinterpret_cast<uint16_t*>(logits.data_ptr()), rows, V, V,
                                     num_valid, y.data_ptr<int64_t>(), w.data_ptr<float>(),
                                     grad_scale, loss.data_ptr<float>(), stream_of(logits));
    else if (logits.scalar_type() == at::kFloat)
      kernels::weighted_ce_cuda_f32(logits.data_ptr<float>(), rows, V, V, num_valid,
                                    y.data_ptr<int64_t>(), w.data_ptr<float>(), grad_scale,
                                    loss.data_ptr<float>(), stream_of(logits));
    else throw std::invalid_argument("weighted_ce_: CUDA logits must be float or bfloat16");
#else
    throw std::runtime_error("weighted_ce_: CUDA tensors need a build with -DCROSSOVER_CUDA=ON");
#endif
  } else {
    require(logits.scalar_type() == at::kFloat, "weighted_ce_: CPU logits must be float");
    kernels::weighted_ce_cpu(logits.data_ptr<float>(), rows, V, V, num_valid, y.data_ptr<int64_t>(),
                             w.data_ptr<float>(), grad_scale, loss.data_ptr<float>());
  }
  return loss;
}

at::Tensor dropout_scale(const kernels::DropoutParams& params, int64_t rows, int64_t n,
                         at::Device device) {
  require(rows >= 0 && n >= 0, "dropout_scale: rows and n must be >= 0");
  require(params.p >= 0 && params.p < 1, "dropout_scale: p must be in [0, 1)");
  at::Tensor out = at::empty({rows, n}, at::TensorOptions().dtype(at::kFloat).device(device));
  if (device.is_cuda()) {
#ifdef CROSSOVER_WITH_CUDA
    const c10::cuda::CUDAGuard guard(device);  // the launch targets the tensor's GPU
    kernels::dropout_scale_cuda(params, rows, n, out.data_ptr<float>(), stream_of(out));
#else
    throw std::runtime_error("dropout_scale: CUDA tensors need a build with -DCROSSOVER_CUDA=ON");
#endif
  } else {
    kernels::dropout_scale_cpu(params, rows, n, out.data_ptr<float>());
  }
  return out;
}

}  // namespace crossover::ops
