// One optimizer step, the same for training, `bench train` and the tests: zero the gradients,
// forward and backward every micro-batch, reduce the gradients, agree with the other ranks on
// the step's outcome, clip and update.
//
// The values the ranks must agree on travel together in one small fp64 tensor on the compute
// device, summed by one all-reduce a step (the only host sync of the step):
//   [loss sum, squared gradient norm, non-finite flags, SIGINT flags, SIGTERM flags,
//    ranks still writing a background checkpoint, ranks whose checkpoint writer failed]
// So every rank sees the same loss and norm, skips the same non-finite steps, stops at the
// same step when a signal reached any one of them, and learns at the same step that every
// rank's part of a background checkpoint is on disk (checkpoint/background_checkpoints.h).
//
// With a timer, the step's phases are timed (util/phase_timer.h): building each micro-batch
// (data), forward, backward, waits on communication (comm: gathers and reductions the sharding
// waits for, and the step's all-reduce), and the optimizer (zeroing, clipping, the update).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "crossover/comm/comm.h"
#include "crossover/distributed/sharding.h"
#include "crossover/objective/objective.h"
#include "crossover/util/phase_timer.h"

namespace crossover {

struct StepRequest {
  at::Tensor windows;               // this rank's rows of the step, [rows, seq_len + 1] int64
  StepContext context;              // seed, step, global row of windows[0], global batch
  int64_t micro_batch = 0;          // rows per forward/backward; divides windows.size(0)
  double lr = 0;                    // learning rate of this step's update
  double grad_clip = 0;             // max global gradient norm (0: no clipping)
  int stop_signal = 0;              // SIGINT or SIGTERM received by this rank so far (0: none)
  bool checkpoint_writing = false;  // this rank's part of a background checkpoint is in flight
  bool checkpoint_failed = false;   // this rank's background checkpoint writer failed
  PhaseTimer* timer = nullptr;      // where the step's phases are timed (nullptr: untimed)
  bool forbid_host_syncs = false;   // a host sync in the micro-batch loop is an error (CUDA)
};

struct StepResult {
  double loss = 0;            // summed over ranks: the global-batch loss
  double grad_norm = 0;       // global, before clipping
  double lr = 0;              // the learning rate of the update (the request's)
  bool finite = true;         // loss and norm finite on every rank; else no update was made
  int stop_signal = 0;        // SIGTERM if any rank has one, else SIGINT if any, else 0
  int64_t positions = 0;      // input positions of this rank (tokens through the model)
  int64_t head_rows = 0;      // positions of this rank that carry loss (through the head)
  int64_t ranks_writing = 0;  // ranks whose checkpoint part is still being written
  int64_t ranks_failed = 0;   // ranks whose checkpoint writer failed
};

StepResult train_step(Sharding& sharding, const Objective& objective, Comm& comm,
                      const StepRequest& request);

}  // namespace crossover
