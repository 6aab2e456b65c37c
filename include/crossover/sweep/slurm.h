// `sweep slurm`: an sbatch array script for a planned sweep, one array task per point (the
// array index is the point's manifest index). Requeue-safe because the trainer resumes by
// itself: the batch shell gets SIGTERM before the time limit (--signal=B:TERM@N), signals the
// tasks of srun's step once through slurmctld (the trainers checkpoint at one step and exit 143;
// srun is not signalled, it would kill them) and requeues its own array task
// (ARRAYJOBID_TASKID); a trainer stopped by the scheduler's own signal is requeued the same way, a
// failed node by SLURM (--requeue); output is appended across restarts (--open-mode=append); a
// finished point exits at once.
#pragma once

#include <string>
#include <vector>

#include "crossover/sweep/manifest.h"

namespace crossover {

struct SlurmOptions {
  std::string binary;  // the crossover executable on the cluster (absolute path)
  std::string partition, account, qos, mem;
  std::string time = "24:00:00";
  int nodes = 1;
  int gpus_per_node = 8;     // one trainer process (srun task) per GPU; 0: CPU, one task per node
  int cpus_per_task = 0;     // 0: SLURM's default
  int max_running = 0;       // array throttle (%N); 0: no limit
  int signal_seconds = 120;  // SIGTERM this long before the time limit
  bool include_finished = false;    // also list points that are finished already
  std::vector<std::string> setup;   // shell lines before training (module load ..., ...)
  std::vector<std::string> sbatch;  // extra sbatch options, e.g. "--constraint=h100"
};

// The script's text. Throws when no point is left to run.
std::string slurm_script(const Manifest& manifest, const SlurmOptions& options);

// "0-3,5,7-9": SLURM's array syntax for sorted indices.
std::string array_ranges(const std::vector<int>& indices);

}  // namespace crossover
