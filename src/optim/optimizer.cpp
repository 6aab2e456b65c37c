#include "crossover/optim/optimizer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>

#include "crossover/kernels/adamw_cpu.h"

namespace crossover {

void AdamW::add_slot(OptimizerSlot slot) {
  at::NoGradGuard no_grad;
  if (!slot.exp_avg.defined()) slot.exp_avg = at::zeros_like(slot.param);
  if (!slot.exp_avg_sq.defined()) slot.exp_avg_sq = at::zeros_like(slot.param);
  slots_.push_back(std::move(slot));
}

at::Tensor AdamW::local_grad_sq() const {
  at::NoGradGuard no_grad;
  at::Tensor total;
  for (const auto& s : slots_) {
    if (!s.grad.defined()) continue;
    const at::Tensor sq = s.grad.device().is_cpu() && s.grad.scalar_type() == at::kFloat
                              ? grad_sq_cpu(s.grad)
                              : grad_sq_device(s.grad);
    total = total.defined() ? total + sq : sq;
  }
  if (!total.defined()) {
    const at::Device device = slots_.empty() ? at::Device(at::kCPU) : slots_[0].param.device();
    total = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device));
  }
  return total;
}

void AdamW::scale_grads(double factor) {
  at::NoGradGuard no_grad;
  if (factor == 1.0) return;
  for (auto& s : slots_)
    if (s.grad.defined()) s.grad.mul_(factor);
}

void AdamW::zero_grads() {
  at::NoGradGuard no_grad;
  for (auto& s : slots_)
    if (s.grad.defined()) s.grad.zero_();
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  ++steps_;
  if (adamw_fused_available(slots_)) {  // CUDA slots on LibTorch 2.x: one multi-tensor update
    adamw_update_fused(slots_, config_, lr, steps_);
    return;
  }
  for (auto& s : slots_) {
    if (!s.grad.defined()) continue;
    if (adamw_cpu_applies(s)) adamw_update_cpu(s, config_, lr, steps_);
    else adamw_update_composed(s, config_, lr, steps_);
  }
}

void adamw_update_composed(OptimizerSlot& s, const OptimizerConfig& config, double lr,
                           int64_t step) {
  at::NoGradGuard no_grad;
  const double b1 = config.beta1, b2 = config.beta2;
  const auto [bc1, bc2] = adamw_bias_corrections(config, step);
  if (config.weight_decay > 0)
    for (const auto& seg : s.decay)
      s.param.narrow(0, seg.offset, seg.length).mul_(1.0 - lr * config.weight_decay);
  s.exp_avg.mul_(b1).add_(s.grad, 1.0 - b1);
  s.exp_avg_sq.mul_(b2).addcmul_(s.grad, s.grad, 1.0 - b2);
  const at::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(config.eps);
  s.param.addcdiv_(s.exp_avg, denom, -lr / bc1);
}

at::Tensor grad_sq_composed(const at::Tensor& grad) { return grad.to(at::kDouble).pow(2).sum(); }

at::Tensor grad_sq_device(const at::Tensor& grad) {
  at::NoGradGuard no_grad;
  const at::Tensor g = grad.reshape({-1});
  const int64_t n = g.numel(), whole = n / kGradSqChunk * kGradSqChunk;
  const auto fp32_norm = [](const at::Tensor& t, at::OptionalIntArrayRef dims) {
    // The norm reduces in fp32 without a squared copy of t; squared again in fp64 below.
    return at::linalg_vector_norm(t, 2, dims, /*keepdim=*/false, at::kFloat);
  };
  at::Tensor total = at::zeros({}, g.options().dtype(at::kDouble));
  if (whole > 0) {
    const at::Tensor rows = g.narrow(0, 0, whole).view({-1, kGradSqChunk});
    const at::Tensor chunks = fp32_norm(rows, at::IntArrayRef{1});
    total = total + chunks.to(at::kDouble).pow(2).sum();
  }
  if (n > whole) {
    const at::Tensor tail = fp32_norm(g.narrow(0, whole, n - whole), at::OptionalIntArrayRef());
    total = total + tail.to(at::kDouble).pow(2);
  }
  return total;
}

bool adamw_fused_available(const std::vector<OptimizerSlot>& slots, bool allow_cpu) {
#if TORCH_VERSION_MAJOR >= 2
  if (slots.empty()) return false;
  const at::Device device = slots[0].param.device();
  if (!(device.is_cuda() || (allow_cpu && device.is_cpu()))) return false;
  for (const auto& s : slots)
    for (const at::Tensor* t : {&s.param, &s.grad, &s.exp_avg, &s.exp_avg_sq})
      if (!t->defined() || t->device() != device || t->scalar_type() != at::kFloat ||
          !t->is_contiguous() || t->numel() != s.param.numel())
        return false;
  return true;
#else
  (void)slots;
  (void)allow_cpu;
  return false;  // at::_fused_adamw_ arrived in LibTorch 2.0
#endif
}

void adamw_update_fused(std::vector<OptimizerSlot>& slots, const OptimizerConfig& config, double lr,
                        int64_t step) {
#if TORCH_VERSION_MAJOR >= 2
  at::NoGradGuard no_grad;
  if (!adamw_fused_available(slots, /*allow_cpu=*/true))
    throw std::logic_error("adamw_update_fused: the slots are not fp32, contiguous, on one device");
  // The op decays every tensor it is given: the decayed segments of each slot go in one call,
  // the rest in another with weight decay 0. Views of the flat buffers, so nothing is copied.
  struct Lists {
    std::vector<at::Tensor> param, grad, exp_avg, exp_avg_sq;
    void add(OptimizerSlot& s, int64_t offset, int64_t length) {
      if (length <= 0) return;
      param.push_back(s.param.narrow(0, offset, length));
      grad.push_back(s.grad.narrow(0, offset, length));
      exp_avg.push_back(s.exp_avg.narrow(0, offset, length));
      exp_avg_sq.push_back(s.exp_avg_sq.narrow(0, offset, length));
    }
  } decayed, plain;
  for (auto& s : slots) {
    if (config.weight_decay <= 0) {
      plain.add(s, 0, s.param.numel());
      continue;
    }
    std::vector<DecaySegment> segments = s.decay;
    std::sort(segments.begin(), segments.end(),
              [](const DecaySegment& a, const DecaySegment& b) { return a.offset < b.offset; });
    int64_t at = 0;
    for (const auto& seg : segments) {
      plain.add(s, at, seg.offset - at);
      decayed.add(s, seg.offset, seg.length);
      at = seg.offset + seg.length;
    }
    plain.add(s, at, s.param.numel() - at);
  }
  // The step count the op's bias correction reads (it does not advance it): one fp32 tensor on
  // the slots' device, filled there (no copy from the host), one view per tensor.
  const size_t count = std::max(decayed.param.size(), plain.param.size());
  const at::Tensor steps = at::full({static_cast<int64_t>(count)}, static_cast<double>(step),
                                    slots[0].param.options());
  for (auto* l : {&decayed, &plain}) {
    if (l->param.empty()) continue;
    std::vector<at::Tensor> step_views;
    for (size_t i = 0; i < l->param.size(); ++i)
      step_views.push_back(steps.select(0, static_cast<int64_t>(i)));
    at::_fused_adamw_(l->param, l->grad, l->exp_avg, l->exp_avg_sq,
                      /*max_exp_avg_sqs=*/at::TensorList(), step_views, lr, config.beta1,
                      config.beta2, l == &decayed ? config.weight_decay : 0.0, config.eps,
                      /*amsgrad=*/false, /*maximize=*/false);
  }
#else
  (void)slots;
  (void)config;
  (void)lr;
  (void)step;
  throw std::logic_error("adamw_update_fused: needs LibTorch 2.x (at::_fused_adamw_)");
#endif
}

std::pair<double, double> adamw_bias_corrections(const OptimizerConfig& config, int64_t step) {
  return {1.0 - std::pow(config.beta1, static_cast<double>(step)),
          1.0 - std::pow(config.beta2, static_cast<double>(step))};
}

double clip_factor(double grad_norm, double max_norm) {
  if (max_norm <= 0 || !std::isfinite(grad_norm)) return 1.0;
  return std::min(1.0, max_norm / (grad_norm + 1e-6));
}

bool adamw_cpu_applies(const OptimizerSlot& s) {
  for (const at::Tensor* t : {&s.param, &s.grad, &s.exp_avg, &s.exp_avg_sq})
    if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != at::kFloat ||
        !t->is_contiguous())
      return false;
  return s.grad.numel() == s.param.numel() && s.exp_avg.numel() == s.param.numel() &&
         s.exp_avg_sq.numel() == s.param.numel();
}

void adamw_update_cpu(OptimizerSlot& s, const OptimizerConfig& config, double lr, int64_t step) {
  const auto [bc1, bc2] = adamw_bias_corrections(config, step);
  const kernels::AdamwCoefficients c{static_cast<float>(config.beta1),
                                     static_cast<float>(1.0 - config.beta1),
                                     static_cast<float>(config.beta2),
                                     static_cast<float>(1.0 - config.beta2),
                                     static_cast<float>(1.0 / std::sqrt(bc2)),
                                     static_cast<float>(config.eps),
                                     static_cast<float>(-lr / bc1),
                                     static_cast<float>(1.0 - lr * config.weight_decay)};
  static const std::vector<DecaySegment> kNone;
  kernels::adamw_fp32_cpu(s.param.data_ptr<float>(), s.grad.data_ptr<float>(),
                          s.exp_avg.data_ptr<float>(), s.exp_avg_sq.data_ptr<float>(),
                          s.param.numel(), c, config.weight_decay > 0 ? s.decay : kNone);
}

at::Tensor grad_sq_cpu(const at::Tensor& grad) {
  const at::Tensor g = grad.contiguous();
  return at::scalar_tensor(kernels::square_sum_fp32_cpu(g.data_ptr<float>(), g.numel()),
                           at::TensorOptions().dtype(at::kDouble));
}

}  // namespace crossover
