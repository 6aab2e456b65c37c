#include "crossover/comm/comm.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace crossover {

namespace {
struct Done final : Pending {
  void wait() override {}
};
}  // namespace

std::unique_ptr<Pending> Comm::all_reduce_sum_async(at::Tensor& t) {
  all_reduce_sum(t);
  return std::make_unique<Done>();
}

std::unique_ptr<Pending> Comm::all_gather_async(const at::Tensor& shard, at::Tensor& full) {
  all_gather(shard, full);
  return std::make_unique<Done>();
}

std::unique_ptr<Pending> Comm::reduce_scatter_sum_async(const at::Tensor& full, at::Tensor& shard) {
  reduce_scatter_sum(full, shard);
  return std::make_unique<Done>();
}

std::vector<double> Comm::all_reduce_sum(const std::vector<double>& values) {
  if (!has_process_group() || values.empty()) return values;
  at::Tensor t = at::tensor(values, at::kDouble).to(device());
  all_reduce_sum(t);
  t = t.cpu();
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

namespace {

class LocalComm final : public Comm {
 public:
  explicit LocalComm(at::Device device) : device_(device) {}
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "local"; }
  bool has_process_group() const override { return false; }
  at::Device device() const override { return device_; }
  void all_reduce_sum(at::Tensor&) override {}
  void all_gather(const at::Tensor& shard, at::Tensor& full) override {
    if (full.data_ptr() != shard.data_ptr()) full.copy_(shard.reshape(full.sizes()));
  }
  void reduce_scatter_sum(const at::Tensor& full, at::Tensor& shard) override {
    if (full.data_ptr() != shard.data_ptr()) shard.copy_(full.reshape(shard.sizes()));
  }
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}

 private:
  at::Device device_;
};

}  // namespace

std::unique_ptr<Comm> make_local_comm(at::Device device) {
  return std::make_unique<LocalComm>(device);
}

}  // namespace crossover
