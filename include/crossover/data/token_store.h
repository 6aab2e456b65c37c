// Binary token stores (train.bin, val.bin) and their memory-mapped reader.
//
// Layout, little-endian:
//   offset 0   char[8]  magic "XOVRTOKS"
//          8   u32      format version (1)
//          12  u32      token width in bytes: 2 (uint16) when the vocabulary fits, else 4
//          16  u64      vocabulary size V (every token id is < V)
//          24  u64      token count N
//          32  u64      document count D
//          40  u8[24]   zero
//   64                  N token ids, each `width` bytes
//   64 + N*width, rounded up to a multiple of 8:
//                       D + 1 u64 document offsets (token indices): document d is tokens
//                       [offsets[d], offsets[d+1]); offsets[0] = 0, offsets[D] = N
// Documents hold no separators; readers insert eos between them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crossover {

inline constexpr char kTokenStoreMagic[8] = {'X', 'O', 'V', 'R', 'T', 'O', 'K', 'S'};
inline constexpr uint32_t kTokenStoreVersion = 1;
inline constexpr uint64_t kTokenStoreHeaderBytes = 64;

class TokenStore;

// Writes a store: tokens stream to `path`.tmp, offsets to a side file (so memory stays
// constant however many documents there are); finish() assembles, syncs and renames.
class TokenStoreWriter {
 public:
  TokenStoreWriter(const std::string& path, uint64_t vocab_size);
  ~TokenStoreWriter();
  TokenStoreWriter(const TokenStoreWriter&) = delete;
  TokenStoreWriter& operator=(const TokenStoreWriter&) = delete;

  void add_document(const int32_t* ids, size_t count);
  void add_document(const std::vector<int32_t>& ids) { add_document(ids.data(), ids.size()); }
  // Documents [first, last) of `source`, copied as stored (one write for their tokens);
  // `source` must have this store's vocabulary and its ids must be verified (verify_ids()).
  void add_documents(const TokenStore& source, uint64_t first, uint64_t last);
  void finish();
  uint64_t num_tokens() const { return num_tokens_; }
  uint64_t num_docs() const { return num_docs_; }
  int token_bytes() const { return token_bytes_; }

 private:
  std::string path_, tmp_path_, offsets_path_;
  uint64_t vocab_size_;
  int token_bytes_;
  std::FILE* tokens_ = nullptr;
  std::FILE* offsets_ = nullptr;
  uint64_t num_tokens_ = 0, num_docs_ = 0;
  bool finished_ = false;
};

// Read-only, memory-mapped view of a store. open() validates the header, the file size and the
// document offsets; token ids are checked against the vocabulary as they are read (read()) or
// all at once (verify_ids()). Every error names the file, the offset and what was expected.
class TokenStore {
 public:
  static TokenStore open(const std::string& path);
  TokenStore(TokenStore&&) noexcept;
  TokenStore& operator=(TokenStore&&) noexcept;
  ~TokenStore();

  const std::string& path() const { return path_; }
  uint64_t num_tokens() const { return num_tokens_; }
  uint64_t num_docs() const { return num_docs_; }
  uint64_t vocab_size() const { return vocab_size_; }
  int token_bytes() const { return token_bytes_; }
  uint64_t doc_begin(uint64_t d) const { return offsets_[d]; }
  uint64_t doc_length(uint64_t d) const { return offsets_[d + 1] - offsets_[d]; }

  // Copies tokens [begin, begin + count) to `out`, widening to int64; throws on an id >= V.
  void read(uint64_t begin, uint64_t count, int64_t* out) const;
  // The same for one document.
  std::vector<int32_t> document(uint64_t d) const;
  // Scans every token id.
  void verify_ids() const;

 private:
  TokenStore() = default;
  friend class TokenStoreWriter;  // add_documents copies the stored bytes
  [[noreturn]] void bad_id(uint64_t index, uint64_t id) const;
  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t map_bytes_ = 0;
  const uint8_t* tokens_ = nullptr;
  const uint64_t* offsets_ = nullptr;
  uint64_t num_tokens_ = 0, num_docs_ = 0, vocab_size_ = 0;
  int token_bytes_ = 2;
};

}  // namespace crossover
