#include "megatron_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace crossover {

namespace {

constexpr char kMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
constexpr size_t kHeaderBytes = 34;

// Maps a whole file read-only (nothing for an empty file).
const uint8_t* map_file(const std::string& path, size_t* bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw std::runtime_error(path + ": cannot stat: " + std::strerror(errno));
  }
  *bytes = static_cast<size_t>(st.st_size);
  void* p = nullptr;
  if (*bytes > 0) {
    p = ::mmap(nullptr, *bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw std::runtime_error(path + ": cannot map: " + std::strerror(errno));
    }
    ::madvise(p, *bytes, MADV_SEQUENTIAL);
  }
  ::close(fd);
  return static_cast<const uint8_t*>(p);
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

const char* MegatronDataset::dtype_name() const {
  static const char* names[] = {"",      "uint8",   "int8",    "int16", "int32",
                                "int64", "float64", "float32", "uint16"};
  return names[dtype_];
}

MegatronDataset::MegatronDataset(MegatronDataset&& o) noexcept
    : prefix_(std::move(o.prefix_)), idx_(o.idx_), bin_(o.bin_), idx_bytes_(o.idx_bytes_),
      bin_bytes_(o.bin_bytes_), dtype_(o.dtype_), item_(o.item_), num_seqs_(o.num_seqs_),
      num_docs_(o.num_docs_), num_tokens_(o.num_tokens_), lengths_(o.lengths_),
      pointers_(o.pointers_), doc_index_(o.doc_index_) {
  o.idx_ = o.bin_ = nullptr;
}

MegatronDataset::~MegatronDataset() {
  if (idx_) ::munmap(const_cast<uint8_t*>(idx_), idx_bytes_);
  if (bin_) ::munmap(const_cast<uint8_t*>(bin_), bin_bytes_);
}

MegatronDataset::MegatronDataset(const std::string& prefix) : prefix_(prefix) {
  const std::string idx = prefix + ".idx", bin = prefix + ".bin";
  idx_ = map_file(idx, &idx_bytes_);
  bin_ = map_file(bin, &bin_bytes_);
  auto fail = [&](size_t byte, const std::string& what) {
    throw std::runtime_error(idx + ":" + std::to_string(byte) + ": " + what);
  };
  if (idx_bytes_ < kHeaderBytes)
    throw std::runtime_error(idx + ": " + std::to_string(idx_bytes_) +
                             " bytes, shorter than the 34-byte header of a Megatron index");
  if (std::memcmp(idx_, kMagic, 9) != 0)
    fail(0, "not a Megatron indexed dataset (expected the magic \"MMIDIDX\\0\\0\")");
  if (const auto version = load<uint64_t>(idx_ + 9); version != 1)
    fail(9, "index version " + std::to_string(version) + ", expected 1");
  dtype_ = idx_[17];
  static const int sizes[] = {0, 1, 1, 2, 4, 8, 8, 4, 2};
  if (dtype_ < 1 || dtype_ > 8)
    fail(17, "dtype code " + std::to_string(dtype_) + ", expected 1..8 (uint8 .. uint16)");
  if (dtype_ == 6 || dtype_ == 7)
    fail(17, std::string("token ids stored as ") + dtype_name() + "; expected an integer dtype");
  item_ = sizes[dtype_];
  num_seqs_ = load<uint64_t>(idx_ + 18);
  const uint64_t doc_entries = load<uint64_t>(idx_ + 26);
  const uint64_t room = idx_bytes_ - kHeaderBytes;
  if (doc_entries == 0) fail(26, "no document indices (expected the document count + 1 >= 1)");
  if (num_seqs_ > room / 12 || doc_entries > room / 8)
    throw std::runtime_error(idx + ": " + std::to_string(idx_bytes_) + " bytes cannot hold the " +
                             std::to_string(num_seqs_) + " sequences and " +
                             std::to_string(doc_entries - 1) +
                             " documents its header declares (truncated?)");
  const uint64_t expected = kHeaderBytes + 12 * num_seqs_ + 8 * doc_entries;
  if (idx_bytes_ == expected + num_seqs_ && num_seqs_ > 0)
    throw std::runtime_error(idx + ": a multimodal dataset (it has sequence modes); crossover "
                                   "converts text-only datasets");
  if (idx_bytes_ != expected)
    throw std::runtime_error(idx + ": " + std::to_string(idx_bytes_) + " bytes, expected " +
                             std::to_string(expected) + " for " + std::to_string(num_seqs_) +
                             " sequences and " + std::to_string(doc_entries - 1) +
                             " documents (truncated, or not written by IndexedDatasetBuilder?)");
  num_docs_ = doc_entries - 1;
  lengths_ = idx_ + kHeaderBytes;
  pointers_ = lengths_ + 4 * num_seqs_;
  doc_index_ = pointers_ + 8 * num_seqs_;
  uint64_t tokens = 0;
  for (uint64_t s = 0; s < num_seqs_; ++s) {
    const auto len = load<int32_t>(lengths_ + 4 * s);
    const auto ptr = load<int64_t>(pointers_ + 8 * s);
    if (len < 0)
      fail(lengths_ - idx_ + 4 * s,
           "sequence " + std::to_string(s) + " has length " + std::to_string(len));
    const uint64_t end = static_cast<uint64_t>(ptr) + static_cast<uint64_t>(len) * item_;
    if (ptr < 0 || ptr % item_ != 0 || end > bin_bytes_)
      fail(pointers_ - idx_ + 8 * s,
           "sequence " + std::to_string(s) + " (" + std::to_string(len) + " tokens at byte " +
               std::to_string(ptr) + ") lies outside " + bin + " (" + std::to_string(bin_bytes_) +
               " bytes) or is not aligned to its " + std::to_string(item_) + "-byte tokens");
    tokens += static_cast<uint64_t>(len);
  }
  num_tokens_ = tokens;
  if (tokens * item_ != bin_bytes_)
    throw std::runtime_error(bin + ": " + std::to_string(bin_bytes_) + " bytes, but " + idx +
                             " lists " + std::to_string(tokens) + " " + dtype_name() + " tokens (" +
                             std::to_string(tokens * item_) +
                             " bytes): the two files do not belong together");
  int64_t previous = 0;
  for (uint64_t d = 0; d <= num_docs_; ++d) {
    const auto at = load<int64_t>(doc_index_ + 8 * d);
    const size_t byte = doc_index_ - idx_ + 8 * d;
    if (d == 0 && at != 0)
      fail(byte, "the first document index is " + std::to_string(at) + ", expected 0");
    if (at < previous || static_cast<uint64_t>(at) > num_seqs_)
      fail(byte, "document index " + std::to_string(d) + " is " + std::to_string(at) +
                     "; expected non-decreasing values in [" + std::to_string(previous) + ", " +
                     std::to_string(num_seqs_) + "]");
    previous = at;
  }
  if (static_cast<uint64_t>(previous) != num_seqs_)
    fail(doc_index_ - idx_ + 8 * num_docs_,
         "the last document index is " + std::to_string(previous) +
             ", expected the sequence count " + std::to_string(num_seqs_));
}

void MegatronDataset::document(uint64_t d, uint64_t vocab, std::vector<int32_t>* out) const {
  out->clear();
  const auto first = static_cast<uint64_t>(load<int64_t>(doc_index_ + 8 * d));
  const auto last = static_cast<uint64_t>(load<int64_t>(doc_index_ + 8 * (d + 1)));
  for (uint64_t s = first; s < last; ++s) {
    const auto len = static_cast<size_t>(load<int32_t>(lengths_ + 4 * s));
    const auto ptr = static_cast<size_t>(load<int64_t>(pointers_ + 8 * s));
    const uint8_t* p = bin_ + ptr;
    const size_t base = out->size();
    out->resize(base + len);
    int32_t* dst = out->data() + base;
    // Widen to int64 and check; the loop per dtype keeps it a straight copy.
    auto copy = [&](auto tag) {
      using T = decltype(tag);
      for (size_t i = 0; i < len; ++i) {
        const int64_t id = static_cast<int64_t>(load<T>(p + i * sizeof(T)));
        if (id < 0 || static_cast<uint64_t>(id) >= vocab)
          throw std::runtime_error(
              prefix_ + ".bin:" + std::to_string(ptr + i * sizeof(T)) + ": token id " +
              std::to_string(id) + " of document " + std::to_string(d) +
              " is outside the tokenizer's vocabulary [0, " + std::to_string(vocab) +
              ") (is --tokenizer the one the corpus was encoded with?)");
        dst[i] = static_cast<int32_t>(id);
      }
    };
    switch (dtype_) {
      case 1: copy(uint8_t{}); break;
      case 2: copy(int8_t{}); break;
      case 3: copy(int16_t{}); break;
      case 4: copy(int32_t{}); break;
      case 5: copy(int64_t{}); break;
      case 8: copy(uint16_t{}); break;
    }
  }
}

}  // namespace crossover
