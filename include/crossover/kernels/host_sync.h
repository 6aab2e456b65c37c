// Host syncs: operations that make the host wait for a GPU. Inside a training step's micro-batch
// loop there should be none (the step's one sync follows its all-reduce): each one stops the
// queueing of the forward and backward until the device has drained.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace crossover::ops {

// A host tensor on `device` without a host sync: staged in pinned memory (LibTorch's caching host
// allocator keeps the buffer until the copy has run) and copied on the device's current stream.
// A copy from pageable memory would wait for the device to drain first. A tensor already on
// `device` is returned as it is.
at::Tensor to_device_async(const at::Tensor& host, at::Device device);

// While one is alive, every LibTorch operation that makes the host wait for a CUDA device throws
// ("called a synchronizing CUDA operation": c10::cuda's sync debug mode at its error level), on
// every thread, the autograd engine's included; the previous mode comes back at the end. In a
// build without CUDA it does nothing: available() says whether the check is real.
class ForbidHostSyncs {
 public:
  ForbidHostSyncs();
  ~ForbidHostSyncs();
  ForbidHostSyncs(const ForbidHostSyncs&) = delete;
  ForbidHostSyncs& operator=(const ForbidHostSyncs&) = delete;
  static bool available();
  // Whether an error's message is the one LibTorch raises for a sync while the check is on.
  static bool is_sync_error(const std::string& message);

 private:
  int previous_ = 0;
};

}  // namespace crossover::ops
