// The compute device of a process and the few device-wide operations the rest of crossover
// needs, in one place, so that no other file spells a CUDA call:
//   resolve_device    hardware.device + this process's LOCAL_RANK -> cpu or cuda:k, where
//                     k = LOCAL_RANK % (visible GPUs). torchrun starts one process per GPU with
//                     every GPU visible (k = LOCAL_RANK); SLURM's per-task binding
//                     (--gpus-per-task=1) shows each task one GPU (k = 0 for every LOCAL_RANK).
//   make_current      makes it the current CUDA device before any CUDA work (the process group,
//                     allocations, streams): otherwise every rank opens a context on GPU 0.
//   synchronize       waits for the device's queued work (timing, end of step).
//   make_device_timeline  the clock of a step's time breakdown (util/phase_timer.h): CUDA events
//                     on the device's current stream, or the wall clock on the CPU.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "crossover/config/config.h"
#include "crossover/util/phase_timer.h"

namespace crossover {

// Number of CUDA devices this process sees (0 with a CPU-only LibTorch or no driver).
int visible_cuda_devices();

// hardware.device for the process with this LOCAL_RANK (see above).
at::Device resolve_device(const HardwareConfig& hw, int local_rank = 0);
// hardware.precision on that device: bf16 on CUDA and fp32 on the CPU (auto).
at::ScalarType resolve_precision(const HardwareConfig& hw, at::Device device);

// Makes `device` the current CUDA device of this thread (nothing on the CPU).
void make_current(at::Device device);
// Blocks until every kernel queued on `device`'s current stream has finished (nothing on the CPU).
void synchronize(at::Device device);

// Marks on `device`'s timeline: CUDA events on its current stream, the wall clock on the CPU.
std::unique_ptr<Timeline> make_device_timeline(at::Device device);

// The device's product name ("NVIDIA H100 80GB HBM3"), or "cpu".
std::string device_name(at::Device device);
// Peak bytes allocated by LibTorch's caching allocator on `device` since start (0 on the CPU).
int64_t peak_memory_bytes(at::Device device);

}  // namespace crossover
