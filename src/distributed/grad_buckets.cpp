#include "grad_buckets.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace crossover {

namespace {
// Buckets in flight before the oldest is waited for: enough for one to travel while the next is
// joined and started; more would only hold more joined copies (NCCL and Gloo run them in order).
constexpr size_t kMaxInFlight = 2;
}  // namespace

GradBuckets::GradBuckets(std::vector<at::Tensor> grads, int64_t bucket_bytes,
                         at::ScalarType reduce_dtype, Comm& comm)
    : grads_(std::move(grads)), reduce_dtype_(reduce_dtype), comm_(comm),
      ready_(grads_.size(), false) {
  std::vector<size_t> bucket;
  int64_t bytes = 0;
  for (size_t g = grads_.size(); g-- > 0;) {
    bucket.push_back(g);
    bytes += grads_[g].numel() * at::elementSize(reduce_dtype);
    if (bytes >= bucket_bytes) {
      buckets_.push_back(std::move(bucket));
      bucket.clear();
      bytes = 0;
    }
  }
  if (!bucket.empty()) buckets_.push_back(std::move(bucket));
}

void GradBuckets::begin_step(PhaseTimer* timer) {
  while (!in_flight_.empty()) complete_oldest(timer);  // a step left unfinished: finish it first
  std::fill(ready_.begin(), ready_.end(), false);
  next_ = 0;
}

void GradBuckets::ready(size_t g, PhaseTimer* timer) {
  ready_[g] = true;
  while (next_ < buckets_.size() && std::all_of(buckets_[next_].begin(), buckets_[next_].end(),
                                                [&](size_t group) { return ready_[group]; })) {
    start(next_++);
    while (in_flight_.size() > kMaxInFlight) complete_oldest(timer);
  }
}

void GradBuckets::finish(PhaseTimer* timer, bool overlapped) {
  while (next_ < buckets_.size()) {
    start(next_++);
    while (in_flight_.size() > (overlapped ? kMaxInFlight : 0)) complete_oldest(timer);
  }
  while (!in_flight_.empty()) complete_oldest(timer);
  std::fill(ready_.begin(), ready_.end(), false);
  next_ = 0;
}

void GradBuckets::start(size_t b) {
  at::NoGradGuard no_grad;
  const auto& groups = buckets_[b];
  InFlight f;
  f.bucket = b;
  if (groups.size() == 1 && reduce_dtype_ == at::kFloat) {
    f.pending = comm_.all_reduce_sum_async(grads_[groups[0]]);
  } else {
    std::vector<at::Tensor> parts;
    for (size_t g : groups) parts.push_back(grads_[g]);
    f.joined = (parts.size() == 1 ? parts[0] : at::cat(parts)).to(reduce_dtype_);
    f.pending = comm_.all_reduce_sum_async(f.joined);
  }
  in_flight_.push_back(std::move(f));
}

void GradBuckets::complete_oldest(PhaseTimer* timer) {
  InFlight f = std::move(in_flight_.front());
  in_flight_.pop_front();
  {
    PhaseScope comm(timer, Phase::kComm);
    f.pending->wait();
  }
  if (!f.joined.defined()) return;
  at::NoGradGuard no_grad;
  int64_t offset = 0;
  for (size_t g : buckets_[f.bucket]) {
    grads_[g].copy_(f.joined.narrow(0, offset, grads_[g].numel()));
    offset += grads_[g].numel();
  }
}

}  // namespace crossover
