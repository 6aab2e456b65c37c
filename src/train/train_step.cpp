#include "crossover/train/train_step.h"

#include <ATen/ATen.h>

#include <cmath>
#include <csignal>
#include <optional>
#include <stdexcept>

#include "crossover/kernels/host_sync.h"
#include "crossover/optim/optimizer.h"

namespace crossover {

namespace {
enum Slot : int64_t {
  kLoss,
  kGradSq,
  kNonFinite,
  kSigint,
  kSigterm,
  kCkptWriting,
  kCkptFailed,
  kSlots
};
}

StepResult train_step(Sharding& sharding, const Objective& objective, Comm& comm,
                      const StepRequest& request) {
  const int64_t rows = request.windows.size(0), micro = request.micro_batch;
  if (micro <= 0 || rows % micro != 0)
    throw std::invalid_argument("train_step: micro batch " + std::to_string(micro) +
                                " must divide the rank's " + std::to_string(rows) + " rows");
  StepResult r;
  r.lr = request.lr;
  PhaseTimer* timer = request.timer;
  {
    PhaseScope optimizer(timer, Phase::kOptimizer);
    sharding.optimizer().zero_grads();
  }
  // The loss stays on the device until the step's one all-reduce: no sync per micro-batch.
  at::Tensor loss, head_rows;   // head_rows: counted on the device where the host has no count
  int64_t head_rows_known = 0;  // the batches' own counts (Batch::signal_positions)
  const int64_t count = rows / micro;
  std::optional<ops::ForbidHostSyncs> no_syncs;
  if (request.forbid_host_syncs) no_syncs.emplace();
  try {
    for (int64_t m = 0; m < count; ++m) {
      Batch batch;
      {
        PhaseScope data(timer, Phase::kData);
        StepContext ctx = request.context;
        ctx.global_row0 += m * micro;
        batch = objective.make_batch(request.windows.narrow(0, m * micro, micro), ctx);
        if (batch.signal_positions >= 0) {
          head_rows_known += batch.signal_positions;
        } else {  // counted where the weights are, read after the step's one sync below
          const at::Tensor carrying = batch.weights.ne(0).sum();
          head_rows = head_rows.defined() ? head_rows + carrying : carrying;
        }
        r.positions += batch.inputs.numel();
      }
      const at::Tensor l =
          sharding.forward_backward(batch, m + 1 == count).to(at::kDouble).reshape({});
      loss = loss.defined() ? loss + l : l;
    }
    sharding.reduce_gradients();
  } catch (const c10::Error& e) {
    // Only the check's own error is renamed; any other (out of memory, a shape) goes on as is.
    if (!no_syncs || !ops::ForbidHostSyncs::is_sync_error(e.what_without_backtrace())) throw;
    throw std::runtime_error("step " + std::to_string(request.context.step) +
                             ": the host waited for the device inside the micro-batch loop "
                             "(training.forbid_host_syncs: true): " +
                             e.what_without_backtrace());
  }
  no_syncs.reset();

  // The agreement below waits for the device's queued work and the other ranks: communication.
  PhaseScope agreeing(timer, Phase::kComm);
  const at::Tensor grad_sq = sharding.grad_sq_share();
  const at::Device device = grad_sq.device();
  const at::Tensor local_bad = at::logical_not(at::isfinite(loss) & at::isfinite(grad_sq));
  const auto flag = [&](bool on) { return at::full({}, on ? 1.0 : 0.0, grad_sq.options()); };
  at::Tensor stats = at::stack({loss.to(device), grad_sq, local_bad.to(at::kDouble),
                                flag(request.stop_signal == SIGINT),
                                flag(request.stop_signal == SIGTERM),
                                flag(request.checkpoint_writing), flag(request.checkpoint_failed)})
                         .to(comm.device());
  comm.all_reduce_sum(stats);
  stats = stats.cpu();
  const double* s = stats.data_ptr<double>();
  // The device has caught up with the all-reduce: reading the count waits for nothing.
  r.head_rows = head_rows_known + (head_rows.defined() ? head_rows.item<int64_t>() : 0);

  r.loss = s[kLoss];
  r.grad_norm = std::sqrt(s[kGradSq]);
  r.finite = s[kNonFinite] == 0 && std::isfinite(r.loss) && std::isfinite(r.grad_norm);
  r.stop_signal = s[kSigterm] > 0 ? SIGTERM : s[kSigint] > 0 ? SIGINT : 0;
  r.ranks_writing = static_cast<int64_t>(s[kCkptWriting]);
  r.ranks_failed = static_cast<int64_t>(s[kCkptFailed]);
  if (!r.finite) return r;
  PhaseScope optimizer(timer, Phase::kOptimizer);
  sharding.optimizer().scale_grads(clip_factor(r.grad_norm, request.grad_clip));
  sharding.optimizer().step(request.lr);
  return r;
}

}  // namespace crossover
