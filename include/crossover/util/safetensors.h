// The safetensors format (https://github.com/huggingface/safetensors), written and read without
// any dependency: an 8-byte little-endian header length, a JSON header mapping each tensor name
// to {dtype, shape, data_offsets: [begin, end)} (plus an optional "__metadata__" object of
// strings), then the raw little-endian data. Python reads our files with `safetensors` or with
// a dozen lines of numpy (scripts/analysis/read-safetensors.py).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "crossover/util/safetensors_header.h"

namespace crossover::safetensors {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Writes `tensors` (any device; copied to CPU contiguous) to `path`, fsyncs it and returns the
// hex SHA-256 of the bytes written. Supported dtypes: F32, F64, BF16, F16, I64, I32, I16, U8, BOOL.
std::string write(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata = {});

// A memory-mapped safetensors file; every inconsistency of the header is an error naming the
// file and the tensor.
class File {
 public:
  explicit File(const std::string& path);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // in data order
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  const Entry& entry(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // A CPU copy of a tensor.
  at::Tensor tensor(const std::string& name) const;
  // Elements [first, first + count) of a tensor, flattened, into `out` (same dtype, CPU).
  void read_elements(const std::string& name, int64_t first, int64_t count, at::Tensor out) const;

 private:
  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t size_ = 0;
  const uint8_t* data_ = nullptr;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace crossover::safetensors
