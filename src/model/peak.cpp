#include "crossover/model/peak.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "crossover/config/device.h"

namespace crossover {

double measure_matmul_peak(at::Device device, at::ScalarType dtype, double seconds) {
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  const auto opts = at::TensorOptions().device(device).dtype(dtype);
  const at::Tensor a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
  at::Tensor c = at::mm(a, b);  // warm-up
  auto sync = [&] { (void)c.sum().item<float>(); };
  sync();
  // The best rate over short windows: a peak, not an average, so that other work on the
  // machine while it is measured lowers it as little as possible (an MFU above 100% later
  // would mean the reference was taken on a busy machine).
  const double flops_per_window = 2.0 * n * n * n * 4;
  double best = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto t0 = start;;) {
    for (int i = 0; i < 4; ++i) at::mm_out(c, a, b);
    sync();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::max(best, flops_per_window / std::chrono::duration<double>(t1 - t0).count());
    if (std::chrono::duration<double>(t1 - start).count() >= seconds) break;
    t0 = t1;
  }
  return best;
}

namespace {

struct KnownGpu {
  const char* name;    // a part of the name CUDA reports
  double bf16_tflops;  // dense bf16 peak
  double memory_gb;    // the part the name denotes by default: the 80 GB H100/A100, 141 GB H200
};

// The entry whose name the device's contains, or nullptr. More specific names first: "H100
// PCIe" and "H100 NVL" before "H100" (the SXM part reports itself as "NVIDIA H100 80GB HBM3").
const KnownGpu* known_gpu(const std::string& name) {
  static const std::array<KnownGpu, 12> table = {{
      {"GH200", 989.4, 96.0},
      {"H200", 989.4, 141.0},
      {"H100 PCIe", 756.0, 80.0},
      {"H100 NVL", 835.0, 94.0},
      {"H100", 989.4, 80.0},
      {"H800", 989.4, 80.0},
      {"B200", 2250.0, 180.0},
      {"A100", 312.0, 80.0},
      {"A800", 312.0, 80.0},
      {"L40S", 362.0, 48.0},
      {"L40", 181.0, 48.0},
      {"L4", 121.0, 24.0},
  }};
  for (const KnownGpu& g : table)
    if (name.find(g.name) != std::string::npos) return &g;
  return nullptr;
}

}  // namespace

double known_bf16_peak_tflops(const std::string& name) {
  const KnownGpu* g = known_gpu(name);
  return g ? g->bf16_tflops : 0;
}

double known_memory_gb(const std::string& name) {
  const KnownGpu* g = known_gpu(name);
  return g ? g->memory_gb : 0;
}

PeakReference mfu_reference(const HardwareConfig& hw, at::Device device, at::ScalarType dtype,
                            double measure_seconds) {
  if (hw.peak_tflops > 0) return {hw.peak_tflops * 1e12, "hardware.peak_tflops"};
  if (device.is_cuda() && dtype == at::kBFloat16) {
    const std::string name = device_name(device);
    if (const double tflops = known_bf16_peak_tflops(name); tflops > 0)
      return {tflops * 1e12, name + " (table of dense bf16 peaks)"};
  }
  return {measure_matmul_peak(device, dtype, measure_seconds),
          "measured matmul on " + device_name(device)};
}

}  // namespace crossover
