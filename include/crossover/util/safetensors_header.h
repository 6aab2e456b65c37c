// The header of a safetensors file, parsed and checked without LibTorch (so the parser is
// fuzzed on its own, fuzz/targets/fuzz_safetensors_header.cpp): an 8-byte little-endian length,
// then that many bytes of JSON mapping each tensor name to {dtype, shape, data_offsets} plus an
// optional "__metadata__" object of strings. Every inconsistency is an error naming the file and
// the tensor; sizes no valid file has are refused before anything is allocated for them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace crossover::safetensors {

// The header length limit of the reference implementation (huggingface/safetensors): a larger
// claim is refused by name, never allocated.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct Entry {
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
};

struct Header {
  std::map<std::string, Entry> entries;
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data section starts: 8 + the header length
};

// Bytes per element of a dtype name (F32, F64, BF16, F16, I64, I32, I16, U8, BOOL); 0 for any
// other name.
int64_t dtype_bytes(const std::string& dtype);

// `file` holds the first `size` bytes of the file, `size` being the whole file's size.
Header parse_header(const uint8_t* file, uint64_t size, const std::string& path);

}  // namespace crossover::safetensors
