// A minimal native reader of one string column of a Parquet file, for `crossover prepare`.
// Apache Arrow's C++ Parquet library is not packaged in Debian 12, and a corpus needs one
// column of one type, so this reads exactly that (spec: apache/parquet-format parquet.thrift and
// Encodings.md):
//   - a top-level, non-repeated BYTE_ARRAY column (STRING/UTF8, or plain binary checked to be
//     UTF-8), required or optional;
//   - DICTIONARY_PAGE, DATA_PAGE (v1) and DATA_PAGE_V2 pages;
//   - values PLAIN, PLAIN_DICTIONARY/RLE_DICTIONARY (RLE/bit-packed hybrid indices),
//     DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY; definition levels RLE;
//   - codecs UNCOMPRESSED, SNAPPY, GZIP, ZSTD, BROTLI and LZ4_RAW.
// Anything else (nested or repeated columns, LZO, Hadoop-framed LZ4, encrypted files) is refused
// naming the file and column. Pages are read one at a time with pread, so memory is one page
// (compressed and decompressed) plus the column chunk's dictionary, never a row group. Every
// error names the file and, for a page, its byte offset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crossover/data/documents.h"  // is_parquet

namespace crossover {

class ParquetTextReader {
 public:
  // What a row holds.
  enum class Value { text, null, invalid_utf8 };

  ParquetTextReader(const std::string& path, const std::string& column);
  ~ParquetTextReader();
  ParquetTextReader(const ParquetTextReader&) = delete;
  ParquetTextReader& operator=(const ParquetTextReader&) = delete;

  // The next row's value into *text (cleared for a null); false after the last row.
  bool next(std::string* text, Value* kind);
  // 0-based index in the file of the row next() returned last (pyarrow's row numbering).
  int64_t row() const { return row_ - 1; }
  int64_t num_rows() const { return num_rows_; }
  // Bytes of the file consumed so far (the whole file once the last row was read) and bytes
  // after decompression.
  int64_t file_bytes() const;
  int64_t text_bytes() const { return text_bytes_; }
  const std::string& path() const { return path_; }
  // The byte offset of the first invalid UTF-8 byte of the last invalid_utf8 value.
  size_t invalid_utf8_at() const { return invalid_at_; }

  struct Chunk;     // one row group's column chunk (parquet_reader.cpp)
  struct PageInfo;  // a page header's fields

 private:
  bool next_page();   // reads pages until a data page; false at the end of the chunk
  bool next_chunk();  // moves to the next row group; false after the last
  void read_dictionary(const PageInfo& info, std::string&& body);
  void decode_data_page(const PageInfo& info, std::string&& body, size_t levels_bytes);
  [[noreturn]] void fail(const std::string& what) const;  // names file, row group, page

  std::string path_, column_;
  int fd_ = -1;
  int64_t file_size_ = 0, footer_start_ = 0, num_rows_ = 0;
  bool optional_ = false;  // the column may hold nulls (definition levels present)
  std::vector<Chunk> chunks_;
  size_t chunk_index_ = 0;
  int64_t pos_ = 0, chunk_end_ = 0, page_at_ = 0;  // file offsets: next page, chunk end, page
  int64_t chunk_values_ = 0;                       // values of the chunk's data pages so far
  bool in_chunk_ = false, done_ = false;
  std::string raw_;           // a page as stored
  std::string page_;          // the current data page, decompressed
  std::string delta_values_;  // DELTA_BYTE_ARRAY values, rebuilt
  std::string dict_data_;     // the dictionary page, decompressed
  std::vector<std::string_view> dict_;
  std::vector<uint8_t> defs_;             // definition levels of the current page (0 = null)
  std::vector<std::string_view> values_;  // its non-null values
  size_t level_pos_ = 0, value_pos_ = 0, page_values_ = 0;
  int64_t row_ = 0, text_bytes_ = 0;
  size_t invalid_at_ = 0;
};

}  // namespace crossover
