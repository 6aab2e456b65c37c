#include "crossover/data/token_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace crossover {

namespace fs = std::filesystem;

namespace {

uint64_t offsets_position(uint64_t num_tokens, int token_bytes) {
  return (kTokenStoreHeaderBytes + num_tokens * token_bytes + 7) / 8 * 8;
}

void write_all(std::FILE* f, const void* data, size_t bytes, const std::string& path) {
  if (bytes && std::fwrite(data, 1, bytes, f) != bytes)
    throw std::system_error(errno, std::generic_category(), path + ": write failed");
}

void sync_file(std::FILE* f, const std::string& path) {
  if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0)
    throw std::system_error(errno, std::generic_category(), path + ": cannot flush to disk");
}

}  // namespace

TokenStoreWriter::TokenStoreWriter(const std::string& path, uint64_t vocab_size)
    : path_(path), tmp_path_(path + ".tmp"), offsets_path_(path + ".offsets.tmp"),
      vocab_size_(vocab_size), token_bytes_(vocab_size <= 65536 ? 2 : 4) {
  tokens_ = std::fopen(tmp_path_.c_str(), "wb");
  offsets_ = std::fopen(offsets_path_.c_str(), "wb+");
  if (!tokens_ || !offsets_) throw std::runtime_error(path + ": cannot create token store");
  const uint8_t zero[kTokenStoreHeaderBytes] = {};
  write_all(tokens_, zero, sizeof(zero), tmp_path_);  // header is written by finish()
  const uint64_t first = 0;
  write_all(offsets_, &first, sizeof(first), offsets_path_);
}

TokenStoreWriter::~TokenStoreWriter() {
  if (tokens_) std::fclose(tokens_);
  if (offsets_) std::fclose(offsets_);
  if (!finished_) {
    std::error_code ec;
    fs::remove(tmp_path_, ec);
  }
  std::error_code ec;
  fs::remove(offsets_path_, ec);
}

void TokenStoreWriter::add_document(const int32_t* ids, size_t count) {
  if (finished_) throw std::logic_error("TokenStoreWriter: add_document after finish");
  if (token_bytes_ == 2) {
    std::vector<uint16_t> narrow(count);
    for (size_t i = 0; i < count; ++i) {
      if (ids[i] < 0 || static_cast<uint64_t>(ids[i]) >= vocab_size_)
        throw std::runtime_error(path_ + ": token id " + std::to_string(ids[i]) +
                                 " outside the vocabulary of " + std::to_string(vocab_size_));
      narrow[i] = static_cast<uint16_t>(ids[i]);
    }
    write_all(tokens_, narrow.data(), count * 2, tmp_path_);
  } else {
    for (size_t i = 0; i < count; ++i)
      if (ids[i] < 0 || static_cast<uint64_t>(ids[i]) >= vocab_size_)
        throw std::runtime_error(path_ + ": token id " + std::to_string(ids[i]) +
                                 " outside the vocabulary of " + std::to_string(vocab_size_));
    write_all(tokens_, ids, count * 4, tmp_path_);
  }
  num_tokens_ += count;
  ++num_docs_;
  write_all(offsets_, &num_tokens_, sizeof(num_tokens_), offsets_path_);
}

void TokenStoreWriter::add_documents(const TokenStore& source, uint64_t first, uint64_t last) {
  if (finished_) throw std::logic_error("TokenStoreWriter: add_documents after finish");
  if (source.vocab_size() != vocab_size_)
    throw std::runtime_error(source.path() + ": vocabulary " + std::to_string(source.vocab_size()) +
                             ", but " + path_ + " is written with " + std::to_string(vocab_size_));
  if (first > last || last > source.num_docs())
    throw std::out_of_range(source.path() + ": documents [" + std::to_string(first) + ", " +
                            std::to_string(last) + ") of " + std::to_string(source.num_docs()));
  const uint64_t begin = source.doc_begin(first), end = source.offsets_[last];
  write_all(tokens_, source.tokens_ + begin * token_bytes_, (end - begin) * token_bytes_,
            tmp_path_);
  for (uint64_t d = first; d < last; ++d) {
    num_tokens_ += source.doc_length(d);
    write_all(offsets_, &num_tokens_, sizeof(num_tokens_), offsets_path_);
  }
  num_docs_ += last - first;
}

void TokenStoreWriter::finish() {
  if (finished_) return;
  // Pad to the offsets' 8-byte alignment, then copy the offsets in.
  const uint64_t pad = offsets_position(num_tokens_, token_bytes_) -
                       (kTokenStoreHeaderBytes + num_tokens_ * token_bytes_);
  const uint8_t zeros[8] = {};
  write_all(tokens_, zeros, pad, tmp_path_);
  std::fflush(offsets_);
  std::rewind(offsets_);
  std::vector<uint8_t> buf(1 << 20);
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), offsets_)) > 0;)
    write_all(tokens_, buf.data(), n, tmp_path_);
  // Header last: a store with a zero header is never mistaken for a complete one.
  uint8_t header[kTokenStoreHeaderBytes] = {};
  std::memcpy(header, kTokenStoreMagic, 8);
  const uint32_t version = kTokenStoreVersion, width = token_bytes_;
  std::memcpy(header + 8, &version, 4);
  std::memcpy(header + 12, &width, 4);
  std::memcpy(header + 16, &vocab_size_, 8);
  std::memcpy(header + 24, &num_tokens_, 8);
  std::memcpy(header + 32, &num_docs_, 8);
  std::fseek(tokens_, 0, SEEK_SET);
  write_all(tokens_, header, sizeof(header), tmp_path_);
  sync_file(tokens_, tmp_path_);
  std::fclose(tokens_);
  tokens_ = nullptr;
  fs::rename(tmp_path_, path_);
  finished_ = true;
}

TokenStore TokenStore::open(const std::string& path) {
  TokenStore s;
  s.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error(path + ": cannot open token store: " + std::strerror(errno));
  struct stat st;
  ::fstat(fd, &st);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kTokenStoreHeaderBytes) {
    ::close(fd);
    throw std::runtime_error(path + ": truncated: file is " + std::to_string(size) +
                             " bytes, shorter than the " + std::to_string(kTokenStoreHeaderBytes) +
                             "-byte header");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw std::runtime_error(path + ": mmap failed");
  s.map_ = static_cast<const uint8_t*>(map);
  s.map_bytes_ = size;

  if (std::memcmp(s.map_, kTokenStoreMagic, 8) != 0) {
    std::string got;
    for (int i = 0; i < 8; ++i) {
      const char c = static_cast<char>(s.map_[i]);
      got += (c >= 32 && c < 127) ? std::string(1, c) : "\\x" + std::to_string(s.map_[i]);
    }
    throw std::runtime_error(path + ": offset 0: wrong magic \"" + got +
                             "\", expected \"XOVRTOKS\" (not a crossover token store)");
  }
  uint32_t version, width;
  std::memcpy(&version, s.map_ + 8, 4);
  std::memcpy(&width, s.map_ + 12, 4);
  std::memcpy(&s.vocab_size_, s.map_ + 16, 8);
  std::memcpy(&s.num_tokens_, s.map_ + 24, 8);
  std::memcpy(&s.num_docs_, s.map_ + 32, 8);
  if (version != kTokenStoreVersion)
    throw std::runtime_error(path + ": offset 8: format version " + std::to_string(version) +
                             ", expected " + std::to_string(kTokenStoreVersion));
  if (width != 2 && width != 4)
    throw std::runtime_error(path + ": offset 12: token width " + std::to_string(width) +
                             ", expected 2 or 4");
  if (s.vocab_size_ == 0 || (width == 2 && s.vocab_size_ > 65536))
    throw std::runtime_error(path + ": offset 16: vocabulary size " +
                             std::to_string(s.vocab_size_) + " does not fit " +
                             std::to_string(width) + "-byte tokens");
  s.token_bytes_ = static_cast<int>(width);
  const uint64_t off_pos = offsets_position(s.num_tokens_, s.token_bytes_);
  const uint64_t expected = off_pos + (s.num_docs_ + 1) * 8;
  if (size != expected)
    throw std::runtime_error(
        path + ": " + (size < expected ? "truncated" : "trailing bytes") + ": file is " +
        std::to_string(size) + " bytes, expected " + std::to_string(expected) + " (" +
        std::to_string(s.num_tokens_) + " tokens of " + std::to_string(width) + " bytes and " +
        std::to_string(s.num_docs_ + 1) + " document offsets after the 64-byte header)");
  s.tokens_ = s.map_ + kTokenStoreHeaderBytes;
  s.offsets_ = reinterpret_cast<const uint64_t*>(s.map_ + off_pos);
  uint64_t prev = 0;
  for (uint64_t d = 0; d <= s.num_docs_; ++d) {
    const uint64_t o = s.offsets_[d];
    const bool ok = d == 0 ? o == 0 : (o >= prev && o <= s.num_tokens_);
    if (!ok || (d == s.num_docs_ && o != s.num_tokens_))
      throw std::runtime_error(path + ": offset " + std::to_string(off_pos + d * 8) +
                               ": document offset " + std::to_string(d) + " is " +
                               std::to_string(o) + ", expected a value in [" +
                               std::to_string(prev) + ", " + std::to_string(s.num_tokens_) + "]" +
                               (d == s.num_docs_ ? " equal to the token count" : ""));
    prev = o;
  }
  return s;
}

TokenStore::TokenStore(TokenStore&& o) noexcept { *this = std::move(o); }

TokenStore& TokenStore::operator=(TokenStore&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
    path_ = std::move(o.path_);
    map_ = o.map_;
    map_bytes_ = o.map_bytes_;
    tokens_ = o.tokens_;
    offsets_ = o.offsets_;
    num_tokens_ = o.num_tokens_;
    num_docs_ = o.num_docs_;
    vocab_size_ = o.vocab_size_;
    token_bytes_ = o.token_bytes_;
    o.map_ = nullptr;
  }
  return *this;
}

TokenStore::~TokenStore() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
}

void TokenStore::bad_id(uint64_t index, uint64_t id) const {
  throw std::runtime_error(
      path_ + ": offset " + std::to_string(kTokenStoreHeaderBytes + index * token_bytes_) +
      ": token " + std::to_string(index) + " is " + std::to_string(id) +
      ", expected an id below the vocabulary size " + std::to_string(vocab_size_));
}

void TokenStore::read(uint64_t begin, uint64_t count, int64_t* out) const {
  if (begin + count > num_tokens_)
    throw std::out_of_range(path_ + ": read past the end of the tokens");
  // The max is folded into the copy loop so the range check costs no extra pass.
  uint64_t max_id = 0;
  if (token_bytes_ == 2) {
    const uint16_t* src = reinterpret_cast<const uint16_t*>(tokens_) + begin;
    uint16_t m = 0;
    for (uint64_t i = 0; i < count; ++i) {
      out[i] = src[i];
      m = src[i] > m ? src[i] : m;
    }
    max_id = m;
  } else {
    const uint32_t* src = reinterpret_cast<const uint32_t*>(tokens_) + begin;
    uint32_t m = 0;
    for (uint64_t i = 0; i < count; ++i) {
      out[i] = src[i];
      m = src[i] > m ? src[i] : m;
    }
    max_id = m;
  }
  if (max_id >= vocab_size_)
    for (uint64_t i = 0; i < count; ++i)
      if (static_cast<uint64_t>(out[i]) >= vocab_size_) bad_id(begin + i, out[i]);
}

std::vector<int32_t> TokenStore::document(uint64_t d) const {
  if (d >= num_docs_) throw std::out_of_range(path_ + ": no document " + std::to_string(d));
  std::vector<int64_t> wide(doc_length(d));
  read(doc_begin(d), wide.size(), wide.data());
  return {wide.begin(), wide.end()};
}

void TokenStore::verify_ids() const {
  std::vector<int64_t> buf(1 << 20);
  for (uint64_t begin = 0; begin < num_tokens_; begin += buf.size())
    read(begin, std::min<uint64_t>(buf.size(), num_tokens_ - begin), buf.data());
}

}  // namespace crossover
