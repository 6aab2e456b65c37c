#include "crossover/dist/comm.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace crossover {

namespace {
struct Done final : Pending {
  void wait() override {}
};
}  // namespace

std::unique_ptr<Pending> Comm::all_gather_async(const at::Tensor& shard, at::Tensor& full) {
  all_gather(shard, full);
  return std::make_unique<Done>();
}

double Comm::all_reduce_sum(double value) {
  if (world_size() == 1) return value;
  at::Tensor t = at::full({1}, value, at::kDouble);
  all_reduce_sum(t);
  return t.item<double>();
}

double Comm::all_reduce_max(double value) {
  if (world_size() == 1) return value;
  // max via gather: collectives here are sums, and a max is rarely needed.
  at::Tensor shard = at::full({1}, value, at::kDouble);
  at::Tensor full = at::empty({world_size()}, at::kDouble);
  all_gather(shard, full);
  return full.max().item<double>();
}

namespace {

class LocalComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void all_reduce_sum(at::Tensor&) override {}
  void all_gather(const at::Tensor& shard, at::Tensor& full) override {
    if (full.data_ptr() != shard.data_ptr()) full.copy_(shard.reshape(full.sizes()));
  }
  void reduce_scatter_sum(const at::Tensor& full, at::Tensor& shard) override {
    if (full.data_ptr() != shard.data_ptr()) shard.copy_(full.reshape(shard.sizes()));
  }
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}
};

}  // namespace

std::unique_ptr<Comm> make_local_comm() { return std::make_unique<LocalComm>(); }

}  // namespace crossover
