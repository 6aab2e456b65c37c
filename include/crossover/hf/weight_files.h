// The safetensors files of a Hugging Face model directory, as transformers' save_pretrained
// writes them: one model.safetensors, or shards model-00001-of-0000N.safetensors listed by
// model.safetensors.index.json ({"metadata": {"total_size": bytes}, "weight_map": {tensor: file}}).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crossover/util/safetensors.h"

namespace crossover::hf {

inline constexpr const char* kSingleFile = "model.safetensors";
inline constexpr const char* kIndexFile = "model.safetensors.index.json";

// Reads the weights of DIR, single or sharded. Every error names the file (and the tensor).
class WeightFiles {
 public:
  explicit WeightFiles(const std::string& dir);
  ~WeightFiles();

  const std::string& dir() const { return dir_; }
  bool sharded() const { return files_.size() > 1 || index_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) > 0; }
  // The file holding a tensor (its path), its shape, and a CPU copy in the file's dtype.
  const std::string& path_of(const std::string& name) const;
  const std::vector<int64_t>& shape(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;

 private:
  std::string dir_;
  bool index_ = false;
  std::vector<std::unique_ptr<safetensors::File>> files_;
  std::map<std::string, size_t> where_;  // tensor -> files_ index
};

// "model-00001-of-00003.safetensors" (index from 0).
std::string shard_file_name(size_t index, size_t count);

// Splits tensors of the given sizes, in order, into consecutive shards of at most max_bytes
// each (a tensor larger than max_bytes gets a shard of its own), as save_pretrained does.
std::vector<std::vector<size_t>> plan_shards(const std::vector<int64_t>& bytes, int64_t max_bytes);

// Writes DIR/model.safetensors.index.json.
void write_index(const std::string& dir, int64_t total_bytes,
                 const std::map<std::string, std::string>& weight_map);

}  // namespace crossover::hf
