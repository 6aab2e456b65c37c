#include "crossover/config/device.h"

#include <ATen/Context.h>

#include <stdexcept>

#ifdef CROSSOVER_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace crossover {

int visible_cuda_devices() {
#ifdef CROSSOVER_WITH_CUDA
  return at::hasCUDA() ? static_cast<int>(c10::cuda::device_count()) : 0;
#else
  return 0;  // the CUDA code paths (kernels, NCCL) are not in this build
#endif
}

at::Device resolve_device(const HardwareConfig& hw, int local_rank) {
  const int gpus = hw.device == DeviceChoice::kCpu ? 0 : visible_cuda_devices();
  if (hw.device == DeviceChoice::kCuda && gpus == 0) {
#ifdef CROSSOVER_WITH_CUDA
    throw ConfigError("hardware.device: cuda requested but this process sees no CUDA device "
                      "(check CUDA_VISIBLE_DEVICES and the driver)");
#else
    throw ConfigError(
        "hardware.device: cuda requested but this build has no CUDA code paths "
        "(build with -DCROSSOVER_CUDA=ON against a CUDA LibTorch: scripts/build.sh --torch pip)");
#endif
  }
  if (gpus == 0) return at::kCPU;
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(local_rank % gpus));
}

at::ScalarType resolve_precision(const HardwareConfig& hw, at::Device device) {
  if (hw.precision == PrecisionChoice::kFp32) return at::kFloat;
  if (hw.precision == PrecisionChoice::kBf16) {
    if (!device.is_cuda())
      throw ConfigError("hardware.precision: bf16 runs on CUDA only (the CPU path and its fused "
                        "kernels are fp32); use auto or fp32 on the CPU");
    return at::kBFloat16;
  }
  return device.is_cuda() ? at::kBFloat16 : at::kFloat;
}

void make_current(at::Device device) {
  if (!device.is_cuda()) return;
#ifdef CROSSOVER_WITH_CUDA
  c10::cuda::set_device(device.index());
#endif
}

void synchronize(at::Device device) {
  if (!device.is_cuda()) return;
#ifdef CROSSOVER_WITH_CUDA
  c10::cuda::getCurrentCUDAStream(device.index()).synchronize();
#endif
}

std::string device_name(at::Device device) {
  if (!device.is_cuda()) return "cpu";
#ifdef CROSSOVER_WITH_CUDA
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device.index()) == cudaSuccess) return prop.name;
#endif
  return device.str();
}

int64_t peak_memory_bytes(at::Device device) {
  if (!device.is_cuda()) return 0;
#ifdef CROSSOVER_WITH_CUDA
  // allocated_bytes[0] is the aggregate over pool types (StatType::AGGREGATE).
  return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index()).allocated_bytes[0].peak;
#else
  return 0;
#endif
}

#ifdef CROSSOVER_WITH_CUDA
namespace {

// Marks are CUDA events (with timing) recorded on the device's current stream; the events are
// kept and re-recorded, so a long window creates each event once.
class CudaEventTimeline final : public Timeline {
 public:
  explicit CudaEventTimeline(at::Device device) : device_(device) {}
  void mark() override {
    if (used_ == events_.size())
      events_.push_back(std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault));
    events_[used_++]->record(c10::cuda::getCurrentCUDAStream(device_.index()));
  }
  std::vector<double> resolve() override {
    std::vector<double> out;
    if (used_ == 0) return out;
    events_[used_ - 1]->synchronize();
    for (size_t i = 0; i < used_; ++i)
      out.push_back(i == 0 ? 0.0 : events_[0]->elapsed_time(*events_[i]) / 1000.0);
    return out;
  }
  void clear() override { used_ = 0; }

 private:
  at::Device device_;
  std::vector<std::unique_ptr<at::cuda::CUDAEvent>> events_;
  size_t used_ = 0;
};

}  // namespace
#endif

std::unique_ptr<Timeline> make_device_timeline(at::Device device) {
#ifdef CROSSOVER_WITH_CUDA
  if (device.is_cuda()) return std::make_unique<CudaEventTimeline>(device);
#endif
  return make_wall_clock_timeline();
}

}  // namespace crossover
