// The value and level encodings of Parquet's BYTE_ARRAY columns (apache/parquet-format
// Encodings.md), decoded into views of the page buffer. Every decoder checks its bounds and
// throws std::runtime_error saying what ran out; the reader adds the file and page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace crossover {

// Strict UTF-8 (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF), the
// same rule nlohmann::json applies to JSON lines. On failure *bad is the first bad byte's offset.
bool utf8_valid(std::string_view s, size_t* bad);

// The RLE/bit-packed hybrid: runs of one repeated value and runs of bit-packed groups of 8.
class RleBitPackedDecoder {
 public:
  RleBitPackedDecoder(const uint8_t* data, size_t size, int bit_width);
  // The next `count` values; throws when the data ends first.
  template <typename T>
  void decode(T* out, size_t count) {
    for (size_t i = 0; i < count; ++i) out[i] = static_cast<T>(next());
  }
  uint32_t next();

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
  int bit_width_;
  uint64_t repeat_left_ = 0, packed_left_ = 0;
  uint32_t repeat_value_ = 0;
  size_t packed_bit_ = 0;  // bit position of the next packed value
};

// PLAIN: `count` values, each a 4-byte little-endian length and its bytes.
void decode_plain(std::string_view data, size_t count, std::vector<std::string_view>* out);
// Dictionary indices: one byte of bit width, then the hybrid; every index < dict.size().
void decode_dictionary_indices(std::string_view data, size_t count,
                               const std::vector<std::string_view>& dict,
                               std::vector<std::string_view>* out);
// DELTA_BINARY_PACKED: `count` integers; returns the bytes the encoding took (its last
// miniblock padded, as the spec writes it).
size_t decode_delta_binary_packed(std::string_view data, size_t count, std::vector<int64_t>* out);
// DELTA_LENGTH_BYTE_ARRAY: the lengths (DELTA_BINARY_PACKED), then the bytes of every value.
// Returns the bytes taken.
size_t decode_delta_length(std::string_view data, size_t count, std::vector<std::string_view>* out);
// DELTA_BYTE_ARRAY: prefix lengths (DELTA_BINARY_PACKED), then suffixes (DELTA_LENGTH_BYTE_ARRAY);
// each value is the previous value's prefix plus its suffix, rebuilt into *storage.
void decode_delta_byte_array(std::string_view data, size_t count, std::string* storage,
                             std::vector<std::string_view>* out);

}  // namespace crossover
