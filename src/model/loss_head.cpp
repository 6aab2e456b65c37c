#include "crossover/model/loss_head.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "crossover/kernels/ops.h"

namespace crossover {

namespace {

int64_t auto_chunk(const at::Tensor& hidden, int64_t vocab, int64_t chunk_rows) {
  if (chunk_rows > 0) return chunk_rows;
  const int64_t elements = hidden.is_cuda() ? (int64_t{128} << 20) : (int64_t{4} << 20);
  return std::max<int64_t>(16, elements / vocab);
}

// What run_chunks writes besides the loss; each output is optional.
struct ChunkOutputs {
  at::Tensor* dh = nullptr;  // with dhead: the gradients of the summed loss (fp32 dhead)
  at::Tensor* dhead = nullptr;
  at::Tensor* per_row = nullptr;  // each row's weighted cross-entropy
};

// Runs the chunks of rows through the head and the fused cross-entropy.
at::Tensor run_chunks(const at::Tensor& h, const at::Tensor& head, const at::Tensor& targets,
                      const at::Tensor& weights, int64_t chunk, const ChunkOutputs& out) {
  const int64_t N = h.size(0), V = head.size(0);
  const bool want_grads = out.dh != nullptr;
  at::Tensor* dh = out.dh;
  at::Tensor* dhead = out.dhead;
  at::Tensor* per_row = out.per_row;
  at::Tensor loss = at::zeros({}, h.options().dtype(at::kFloat));
  if (want_grads) {
    *dh = at::empty_like(h);
    *dhead = at::zeros(head.sizes(), head.options().dtype(at::kFloat));
  }
  const at::Tensor head_t = head.t();
  for (int64_t begin = 0; begin < N; begin += chunk) {
    const int64_t n = std::min(chunk, N - begin);
    const at::Tensor hc = h.narrow(0, begin, n);
    at::Tensor logits = at::mm(hc, head_t);  // [n, V], contiguous
    const at::Tensor rows_loss = ops::weighted_ce_(logits, targets.narrow(0, begin, n),
                                                   weights.narrow(0, begin, n), V,
                                                   want_grads ? 1.0f : 0.0f);
    loss += rows_loss.sum();
    if (per_row) per_row->narrow(0, begin, n).copy_(rows_loss);
    if (want_grads) {
      dh->narrow(0, begin, n).copy_(at::mm(logits, head));  // logits now hold dlogits
      dhead->add_(at::mm(logits.t(), hc).to(at::kFloat));
    }
  }
  return loss;
}

struct FusedHeadCrossEntropy : public torch::autograd::Function<FusedHeadCrossEntropy> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden,
                            const at::Tensor& head, const at::Tensor& targets,
                            const at::Tensor& weights, int64_t chunk) {
    at::NoGradGuard no_grad;
    at::Tensor dh, dhead;
    const at::Tensor loss = run_chunks(hidden, head, targets, weights, chunk,
                                       {.dh = &dh, .dhead = &dhead});
    ctx->save_for_backward({dh, dhead});
    ctx->saved_data["head_dtype"] = static_cast<int64_t>(head.scalar_type());
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor g = grad_out[0];
    const auto head_dtype = static_cast<at::ScalarType>(ctx->saved_data["head_dtype"].toInt());
    return {saved[0] * g.to(saved[0].scalar_type()), (saved[1] * g).to(head_dtype), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor signal_row_index(const at::Tensor& weights, int64_t count) {
  at::NoGradGuard no_grad;
  if (count < 0) return weights.reshape({-1}).ne(0).nonzero().squeeze(1);
  const at::Tensor carrying = weights.reshape({-1}).ne(0);
  const int64_t n = carrying.numel();
  // Row r with signal goes to slot (number of signal rows before r); the others to slot
  // `count`, a spare slot dropped below. The scatter writes each real slot exactly once.
  const at::Tensor position = at::cumsum(carrying, 0, at::kLong) - 1;
  const at::Tensor slot = at::where(carrying, position, at::full({}, count, position.options()));
  at::Tensor index = at::zeros({count + 1}, position.options());
  index.scatter_(0, slot, at::arange(n, position.options()));
  return index.narrow(0, 0, count);
}

at::Tensor weighted_cross_entropy(const at::Tensor& hidden, const at::Tensor& head,
                                  const at::Tensor& targets, const at::Tensor& weights,
                                  int64_t chunk_rows, int64_t signal_rows) {
  const int64_t d = hidden.size(-1);
  at::Tensor h = hidden.reshape({-1, d});
  at::Tensor y = targets.reshape({-1});
  at::Tensor w = weights.reshape({-1}).to(at::kFloat);
  // Rows without signal never reach the head (index_select's backward scatters back). On a GPU
  // the count known on the host keeps the selection from stalling the queueing of the head and
  // the whole backward.
  const at::Tensor signal = signal_row_index(w, signal_rows);
  if (signal.size(0) < h.size(0)) {
    h = h.index_select(0, signal);
    y = y.index_select(0, signal);
    w = w.index_select(0, signal);
  }
  if (h.size(0) == 0) return (hidden.sum() * 0 + head.sum() * 0).to(at::kFloat);
  return FusedHeadCrossEntropy::apply(h.contiguous(), head, y.contiguous(), w.contiguous(),
                                      auto_chunk(h, head.size(0), chunk_rows));
}

at::Tensor token_nll(const at::Tensor& hidden, const at::Tensor& head, const at::Tensor& targets,
                     int64_t chunk_rows) {
  at::NoGradGuard no_grad;
  const at::Tensor h = hidden.reshape({-1, hidden.size(-1)}).contiguous();
  const at::Tensor y = targets.reshape({-1}).contiguous();
  at::Tensor per_row = at::empty({h.size(0)}, h.options().dtype(at::kFloat));
  const at::Tensor ones = at::ones({h.size(0)}, per_row.options());
  run_chunks(h, head, y, ones, auto_chunk(h, head.size(0), chunk_rows), {.per_row = &per_row});
  return per_row;
}

}  // namespace crossover
