#include "crossover/optim/optimizer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

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
                              : grad_sq_composed(s.grad);
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
  for (auto& s : slots_) {
    if (!s.grad.defined()) continue;
    if (adamw_cpu_applies(s))
      adamw_update_cpu(s, config_, lr, steps_);
    else
      adamw_update_composed(s, config_, lr, steps_);
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
