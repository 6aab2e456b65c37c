#include "crossover/util/safetensors.h"

#include "crossover/util/fault.h"
#include "crossover/util/fs.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace crossover::safetensors {

namespace {

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  int64_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", at::kFloat, 4}, {"F64", at::kDouble, 8}, {"BF16", at::kBFloat16, 2},
    {"F16", at::kHalf, 2},  {"I64", at::kLong, 8},   {"I32", at::kInt, 4},
    {"I16", at::kShort, 2}, {"U8", at::kByte, 1},    {"BOOL", at::kBool, 1}};

const DtypeInfo& by_type(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d;
  throw std::invalid_argument(std::string("safetensors: unsupported dtype ") + at::toString(t));
}

const DtypeInfo* by_name(const std::string& n) {
  for (const auto& d : kDtypes)
    if (n == d.name) return &d;
  return nullptr;
}

}  // namespace

std::string write(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw std::invalid_argument("safetensors: reserved name");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const auto& d = by_type(c.scalar_type());
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * d.bytes;
    header[name] = {
        {"dtype", d.name}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(c));
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // align the data section to 8 bytes
  const uint64_t n = text.size();
  const uint64_t total = 8 + n + offset;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::system_error(errno, std::generic_category(), path + ": cannot create");
  Sha256 sha;
  uint64_t written = 0;
  int err = 0;  // errno of the first failure
  auto put = [&](const void* data, size_t bytes) {
    sha.update(data, bytes);
    if (bytes == 0) return true;
    if (written > 0 && write_fault_due()) {  // CROSSOVER_FAULT=enospc@N: a full disk, mid-file
      err = ENOSPC;
      return false;
    }
    if (std::fwrite(data, 1, bytes, f) != bytes) {
      err = errno;
      return false;
    }
    written += bytes;
    return true;
  };
  bool ok = put(&n, 8) && put(text.data(), n);
  for (const auto& c : cpu) ok = ok && put(c.data_ptr(), c.numel() * c.element_size());
  // A full disk often shows only here: the last buffered bytes, or the file system's delayed
  // allocation, fail at flush, fsync or even close.
  if (ok && (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0)) {
    ok = false;
    err = errno;
  }
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok)
    throw std::system_error(err, std::generic_category(),
                            path + ": write failed after " + std::to_string(written) + " of " +
                                std::to_string(total) + " bytes");
  return sha.hex();
}

File::File(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  ::fstat(fd, &st);
  size_ = static_cast<size_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    throw std::runtime_error(path + ": truncated safetensors file (" + std::to_string(size_) +
                             " bytes)");
  }
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw std::runtime_error(path + ": mmap failed");
  map_ = static_cast<const uint8_t*>(m);
  try {
    Header h = parse_header(map_, size_, path);
    entries_ = std::move(h.entries);
    metadata_ = std::move(h.metadata);
    data_ = map_ + h.data_offset;
  } catch (...) {
    ::munmap(const_cast<uint8_t*>(map_), size_);  // the destructor does not run
    throw;
  }
}

File::~File() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
}

std::vector<std::string> File::names() const {
  std::vector<std::pair<uint64_t, std::string>> order;
  for (const auto& [name, e] : entries_) order.emplace_back(e.begin, name);
  std::sort(order.begin(), order.end());
  std::vector<std::string> out;
  for (auto& [_, n] : order) out.push_back(n);
  return out;
}

const Entry& File::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw std::runtime_error(path_ + ": no tensor named " + name);
  return it->second;
}

at::Tensor File::tensor(const std::string& name) const {
  const Entry& e = entry(name);
  at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(by_name(e.dtype)->type));
  if (e.end > e.begin) std::memcpy(t.data_ptr(), data_ + e.begin, e.end - e.begin);
  return t;
}

void File::read_elements(const std::string& name, int64_t first, int64_t count,
                         at::Tensor out) const {
  const Entry& e = entry(name);
  const DtypeInfo* d = by_name(e.dtype);
  const int64_t numel = static_cast<int64_t>((e.end - e.begin) / d->bytes);
  if (first < 0 || count < 0 || first + count > numel)
    throw std::out_of_range(path_ + ": tensor " + name + ": elements [" + std::to_string(first) +
                            ", " + std::to_string(first + count) + ") out of " +
                            std::to_string(numel));
  if (out.scalar_type() != d->type || !out.is_contiguous() || out.numel() != count ||
      !out.device().is_cpu())
    throw std::invalid_argument(path_ + ": tensor " + name + ": bad destination for a read");
  if (count) std::memcpy(out.data_ptr(), data_ + e.begin + first * d->bytes, count * d->bytes);
}

}  // namespace crossover::safetensors
