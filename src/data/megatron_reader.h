// An already tokenised corpus in Megatron-LM's indexed-dataset format (PREFIX.bin, PREFIX.idx, as
// megatron-core's IndexedDatasetBuilder and tools/preprocess_data.py write them), for
// `crossover prepare --from-megatron`. Layout (megatron/core/datasets/indexed_dataset.py),
// little-endian:
//   .idx  0   char[9]  "MMIDIDX\0\0"
//         9   u64      version = 1
//         17  u8       dtype code: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64,
//                      7 float32, 8 uint16 (the writer picks uint16 below 65500 ids, else int32)
//         18  u64      sequence count S
//         26  u64      document count + 1 (D + 1)
//         34  i32[S]   sequence lengths, in tokens
//             i64[S]   sequence pointers: byte offsets into .bin
//             i64[D+1] document indices: document d is sequences [di[d], di[d+1]); di[0] = 0,
//                      di[D] = S
//             (i8[S]   sequence modes, multimodal datasets only: refused)
//   .bin  the tokens of every sequence, back to back, in the dtype.
// Both files are memory-mapped; open() checks all of the above (the .idx size exactly, every
// pointer inside .bin, the document indices non-decreasing) and errors name PREFIX.idx and the
// byte. Token ids are checked against the vocabulary as documents are read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crossover {

class MegatronDataset {
 public:
  explicit MegatronDataset(const std::string& prefix);
  ~MegatronDataset();
  MegatronDataset(MegatronDataset&&) noexcept;
  MegatronDataset(const MegatronDataset&) = delete;
  MegatronDataset& operator=(const MegatronDataset&) = delete;

  const std::string& prefix() const { return prefix_; }
  uint64_t num_documents() const { return num_docs_; }
  uint64_t num_sequences() const { return num_seqs_; }
  uint64_t num_tokens() const { return num_tokens_; }
  int token_bytes() const { return item_; }
  const char* dtype_name() const;
  int64_t file_bytes() const { return static_cast<int64_t>(idx_bytes_ + bin_bytes_); }
  // Document d's token ids (its sequences, concatenated) into *out. An id < 0 or >= vocab
  // throws naming PREFIX.bin, the byte and the document.
  void document(uint64_t d, uint64_t vocab, std::vector<int32_t>* out) const;

 private:
  std::string prefix_;
  const uint8_t* idx_ = nullptr;
  const uint8_t* bin_ = nullptr;
  size_t idx_bytes_ = 0, bin_bytes_ = 0;
  int dtype_ = 0, item_ = 0;
  uint64_t num_seqs_ = 0, num_docs_ = 0, num_tokens_ = 0;
  const uint8_t* lengths_ = nullptr;    // i32[S] (unaligned reads: memcpy)
  const uint8_t* pointers_ = nullptr;   // i64[S]
  const uint8_t* doc_index_ = nullptr;  // i64[D+1]
};

}  // namespace crossover
