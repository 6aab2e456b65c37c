#include "crossover/optim/optimizer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

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
    const at::Tensor sq = s.grad.to(at::kDouble).pow(2).sum();
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
  const double b1 = config_.beta1, b2 = config_.beta2;
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(steps_));
  for (auto& s : slots_) {
    if (!s.grad.defined()) continue;
    if (config_.weight_decay > 0)
      for (const auto& seg : s.decay)
        s.param.narrow(0, seg.offset, seg.length).mul_(1.0 - lr * config_.weight_decay);
    s.exp_avg.mul_(b1).add_(s.grad, 1.0 - b1);
    s.exp_avg_sq.mul_(b2).addcmul_(s.grad, s.grad, 1.0 - b2);
    const at::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(config_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -lr / bc1);
  }
}

double clip_factor(double grad_norm, double max_norm) {
  if (max_norm <= 0 || !std::isfinite(grad_norm)) return 1.0;
  return std::min(1.0, max_norm / (grad_norm + 1e-6));
}

}  // namespace crossover
