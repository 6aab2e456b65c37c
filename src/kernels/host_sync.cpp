#include "crossover/kernels/host_sync.h"

#include <ATen/ATen.h>

#ifdef CROSSOVER_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace crossover::ops {

bool ForbidHostSyncs::is_sync_error(const std::string& message) {
  return message.find("called a synchronizing CUDA operation") != std::string::npos;
}

at::Tensor to_device_async(const at::Tensor& host, at::Device device) {
  if (host.device() == device) return host;
  if (!device.is_cuda() || !host.is_cpu()) return host.to(device);
  const at::Tensor pinned = host.is_pinned() ? host : host.contiguous().pin_memory();
  return pinned.to(device, /*non_blocking=*/true);
}

#ifdef CROSSOVER_WITH_CUDA
ForbidHostSyncs::ForbidHostSyncs()
    : previous_(static_cast<int>(c10::cuda::warning_state().get_sync_debug_mode())) {
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
}
ForbidHostSyncs::~ForbidHostSyncs() {
  c10::cuda::warning_state().set_sync_debug_mode(static_cast<c10::cuda::SyncDebugMode>(previous_));
}
bool ForbidHostSyncs::available() { return true; }
#else
ForbidHostSyncs::ForbidHostSyncs() = default;
ForbidHostSyncs::~ForbidHostSyncs() = default;
bool ForbidHostSyncs::available() { return false; }
#endif

}  // namespace crossover::ops
