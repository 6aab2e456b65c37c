// Checkpoint tensor files in both formats, and reading any range of any group from either —
// the mechanism behind resharding (fsdp on W ranks -> fsdp on W' ranks, or -> one process).
//
// full:    model.safetensors        {param name: tensor}
//          optimizer.safetensors    {"exp_avg/<name>": tensor, "exp_avg_sq/<name>": tensor}
// sharded: model.rank<r>-of-<W>.safetensors      {group name: this rank's flat slice}
//          optimizer.rank<r>-of-<W>.safetensors  {"exp_avg/<group>", "exp_avg_sq/<group>"}
//          rank r holds elements [r * shard, (r + 1) * shard) of the group's flat buffer padded
//          to W * shard elements; state.json "checkpoint_format" records W and each shard size.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crossover/model/layout.h"

namespace crossover {

// File name -> SHA-256 of what a rank wrote.
using FileChecksums = std::map<std::string, std::string>;

// Reads elements [begin, begin + count) of a group's flat buffer ("param", "exp_avg" or
// "exp_avg_sq") from a checkpoint, whatever its format and world size; fp32 on CPU.
at::Tensor read_checkpoint_range(const std::string& dir, const nlohmann::json& state,
                                 const ModelLayout& layout, size_t group, const std::string& kind,
                                 int64_t begin, int64_t count);

// Checks DIR/NAME against its SHA-256 in state["files"], once per process for an unchanged file
// (same size and modification time): reading a range of a group checks only the files it opens.
// Throws naming the file when it is missing, unlisted or corrupt.
void verify_checkpoint_file(const std::string& dir, const nlohmann::json& state,
                            const std::string& name);

// Writes full (unsharded) named tensors: model.safetensors and optimizer.safetensors.
FileChecksums write_full_checkpoint(const std::string& dir, const ModelLayout& layout,
                                    const std::vector<at::Tensor>& params,
                                    const std::vector<at::Tensor>& exp_avg,
                                    const std::vector<at::Tensor>& exp_avg_sq);

// Writes rank `rank`'s shards (of `world`): each group's flat slice, fp32, in
// model.rank<r>-of-<W>.safetensors and optimizer.rank<r>-of-<W>.safetensors.
FileChecksums write_sharded_checkpoint(const std::string& dir, const ModelLayout& layout,
                                       int64_t rank, int64_t world,
                                       const std::vector<at::Tensor>& params,
                                       const std::vector<at::Tensor>& exp_avg,
                                       const std::vector<at::Tensor>& exp_avg_sq);

// One rank's checkpoint tensors copied off the training state into host memory, so that the
// files can be written while training goes on (checkpoint/background_checkpoints.h). The
// buffers are reused from one checkpoint to the next (allocated once, pinned when the state
// lives on a GPU, so the copy runs at full bandwidth).
struct CheckpointSnapshot {
  enum class Files { kNone, kFull, kSharded };
  Files files = Files::kNone;   // kNone: this rank writes nothing (ddp's other ranks)
  int64_t rank = 0, world = 1;  // kSharded: whose shards
  std::vector<at::Tensor> params, exp_avg, exp_avg_sq;  // per group, on the CPU

  // Copies the tensors (any device) into the buffers and returns once the copies are complete:
  // the caller may update the originals right after.
  void copy_from(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& exp_avg,
                 const std::vector<at::Tensor>& exp_avg_sq);
  // Writes the files (write_full_checkpoint or write_sharded_checkpoint) into `dir`.
  FileChecksums write(const std::string& dir, const ModelLayout& layout) const;
};

}  // namespace crossover
