#include "crossover/util/safetensors_header.h"

#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace crossover::safetensors {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// Elements of a shape; throws on a negative dimension or a product beyond int64.
int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& path,
                      const std::string& name) {
  int64_t numel = 1;
  for (const int64_t s : shape) {
    if (s < 0) fail(path, "tensor " + name + ": negative dimension " + std::to_string(s));
    if (__builtin_mul_overflow(numel, s, &numel))
      fail(path, "tensor " + name + ": its shape has more elements than any file can hold");
  }
  return numel;
}

}  // namespace

int64_t dtype_bytes(const std::string& dtype) {
  static const std::map<std::string, int64_t> kBytes = {{"F32", 4}, {"F64", 8}, {"BF16", 2},
                                                        {"F16", 2}, {"I64", 8}, {"I32", 4},
                                                        {"I16", 2}, {"U8", 1},  {"BOOL", 1}};
  const auto it = kBytes.find(dtype);
  return it == kBytes.end() ? 0 : it->second;
}

Header parse_header(const uint8_t* file, uint64_t size, const std::string& path) {
  if (size < 8) fail(path, "truncated safetensors file (" + std::to_string(size) + " bytes)");
  uint64_t n;
  std::memcpy(&n, file, 8);
  if (n > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(n) + " exceeds the format's limit of " +
                   std::to_string(kMaxHeaderBytes) +
                   " bytes: not a safetensors file, or a corrupt one");
  if (n > size - 8)
    fail(path,
         "header length " + std::to_string(n) + " exceeds the file size " + std::to_string(size));
  const auto json = nlohmann::json::parse(file + 8, file + 8 + n, nullptr, false);
  if (json.is_discarded() || !json.is_object()) fail(path, "malformed safetensors header");
  Header h;
  h.data_offset = 8 + n;
  const uint64_t data_size = size - 8 - n;
  for (const auto& [name, value] : json.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(path, "__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) fail(path, "__metadata__." + k + " is not a string");
        h.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (!value.is_object() || !value.contains("dtype") || !value["dtype"].is_string() ||
        !value.contains("shape") || !value["shape"].is_array() || !value.contains("data_offsets") ||
        !value["data_offsets"].is_array() || value["data_offsets"].size() != 2 ||
        !value["data_offsets"][0].is_number_unsigned() ||
        !value["data_offsets"][1].is_number_unsigned())
      fail(path, "tensor " + name +
                     ": expected {dtype: string, shape: [integers], data_offsets: [begin, end]}");
    Entry e;
    e.dtype = value["dtype"].get<std::string>();
    for (const auto& s : value["shape"]) {
      if (!s.is_number_integer()) fail(path, "tensor " + name + ": a dimension is not an integer");
      e.shape.push_back(s.get<int64_t>());
    }
    e.begin = value["data_offsets"][0].get<uint64_t>();
    e.end = value["data_offsets"][1].get<uint64_t>();
    const int64_t bytes = dtype_bytes(e.dtype);
    if (bytes == 0) fail(path, "tensor " + name + ": unsupported dtype " + e.dtype);
    const int64_t numel = checked_numel(e.shape, path, name);
    int64_t expected = 0;
    if (__builtin_mul_overflow(numel, bytes, &expected) || e.end < e.begin || e.end > data_size ||
        e.end - e.begin != static_cast<uint64_t>(expected))
      fail(path, "tensor " + name + ": data range [" + std::to_string(e.begin) + ", " +
                     std::to_string(e.end) +
                     ") does not match its shape and dtype or the file size");
    h.entries[name] = std::move(e);
  }
  return h;
}

}  // namespace crossover::safetensors
