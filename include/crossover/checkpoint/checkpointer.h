// Checkpoints that a crash cannot corrupt.
//
// RUN_DIR/checkpoints/step_00000040/ holds the tensors (safetensors: model and optimizer
// moments, one file per rank when sharded) and state.json (step, tokens, sampler state, the
// resolved config, crossover version, and a SHA-256 per tensor file). A checkpoint is written
// into step_00000040.tmp/ and renamed when complete; only then is RUN_DIR/checkpoints/latest
// (a one-line text file naming the directory) replaced atomically. A kill at any moment
// leaves the previous checkpoint and `latest` intact. Loading verifies every checksum.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crossover/checkpoint/tensor_files.h"
#include "crossover/checkpoint/train_state.h"
#include "crossover/comm/comm.h"

namespace crossover {

class Checkpointer {
 public:
  Checkpointer(std::string run_dir, int64_t keep_last, Comm& comm);

  std::string checkpoints_dir() const;
  std::string dir_for(int64_t step) const;

  // Every rank calls this. `write_tensors(tmp_dir)` writes this rank's files and returns their
  // checksums; rank 0 then writes state.json (with every rank's checksums), renames the
  // directory, updates `latest` and deletes checkpoints beyond keep_last (never a protected
  // one). Returns the final directory. A failed write (a full disk) is rethrown after rank 0
  // has removed the partial directory (another rank's failure reaches rank 0 through the
  // barrier's error); the previous checkpoint stays the latest.
  std::string save(int64_t step, const TrainState& state,
                   const std::function<FileChecksums(const std::string& tmp_dir)>& write_tensors);

  // save() in its phases, for a writer that runs the middle one on another thread
  // (checkpoint/background_checkpoints.h). begin: every rank, collective (a barrier): rank 0
  // makes an empty step_N.tmp/. write_part: this rank's files, then checksums.rank<r>.json
  // written atomically, which marks the part complete; no collective, any thread. commit: rank 0
  // only, once every rank's write_part has returned: state.json, the rename, `latest`, pruning;
  // returns the final directory. remove_partial: rank 0, after a failure: deletes step_N.tmp/.
  std::string begin(int64_t step);
  void write_part(int64_t step,
                  const std::function<FileChecksums(const std::string& tmp_dir)>& write_tensors);
  std::string commit(int64_t step, const TrainState& state);
  void remove_partial(int64_t step);

  // Removes the unfinished writes in RUN_DIR/checkpoints (step_N.tmp/, latest.tmp) that
  // crashed writers left, logging each; returns their paths. Only the process that owns the run
  // directory may call it (the trainer, holding the run lock, before it writes anything).
  std::vector<std::string> remove_partial_writes();

  // The directory `latest` names, if any.
  std::optional<std::string> latest() const;
  // A checkpoint kept whatever keep_last says (the one a run resumed from).
  void protect(const std::string& dir) { protected_ = dir; }

  // Which tensor files read_state verifies: every one it lists, or none, leaving each to be
  // verified when it is first read (read_checkpoint_range), so a resuming fsdp rank hashes its
  // own shards rather than every rank's.
  enum class Verify { kAllFiles, kOnRead };
  // state.json of a checkpoint directory, after verifying the files' checksums as asked.
  static nlohmann::json read_state(const std::string& dir, Verify verify = Verify::kAllFiles);
  // The same, typed (errors name the state.json and the key).
  static TrainState read_train_state(const std::string& dir);
  // The checkpoint at `step`, or the latest when step < 0; errors name the run directory.
  static std::string find(const std::string& run_dir, int64_t step = -1);

 private:
  void prune();
  std::string run_dir_;
  int64_t keep_last_;
  Comm& comm_;
  std::string protected_;
};

}  // namespace crossover
