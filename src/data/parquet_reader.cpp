#include "parquet_reader.h"

#include <brotli/decode.h>
#include <fcntl.h>
#include <lz4.h>
#include <snappy-c.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "parquet_encodings.h"
#include "thrift_compact.h"

namespace crossover {

namespace {

// parquet.thrift enums.
enum PhysicalType { kByteArray = 6 };
enum Repetition { kRequired = 0, kOptional = 1, kRepeated = 2 };
enum PageType { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };
enum Encoding {
  kPlain = 0,
  kPlainDictionary = 2,
  kRle = 3,
  kDeltaLengthByteArray = 6,
  kDeltaByteArray = 7,
  kRleDictionary = 8,
};
enum Codec {
  kUncompressed = 0,
  kSnappy = 1,
  kGzip = 2,
  kLzo = 3,
  kBrotli = 4,
  kLz4Hadoop = 5,
  kZstd = 6,
  kLz4Raw = 7
};

const char* type_name(int t) {
  static const char* names[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                                "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
  return t >= 0 && t < 8 ? names[t] : "an unknown type";
}

std::string codec_name(int c) {
  static const char* names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};
  return c >= 0 && c < 8 ? names[c] : "codec " + std::to_string(c);
}

std::string encoding_name(int e) {
  static const char* names[] = {
      "PLAIN",          "GROUP_VAR_INT",       "PLAIN_DICTIONARY",        "RLE",
      "BIT_PACKED",     "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
      "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
  return e >= 0 && e < 10 ? names[e] : "encoding " + std::to_string(e);
}

bool codec_supported(int c) {
  return c == kUncompressed || c == kSnappy || c == kGzip || c == kBrotli || c == kZstd ||
         c == kLz4Raw;
}

void read_at(int fd, int64_t offset, size_t n, char* out, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error(path + ": read error: " + std::strerror(errno));
    if (r == 0)
      throw std::runtime_error(path + ": truncated: ends before byte " +
                               std::to_string(offset + static_cast<int64_t>(n)));
    done += static_cast<size_t>(r);
  }
}

// Decompresses exactly `expected` bytes; the error says what the codec reported.
void decompress(int codec, const char* src, size_t n, char* dst, size_t expected) {
  switch (codec) {
    case kSnappy: {
      size_t length = 0;
      if (snappy_uncompressed_length(src, n, &length) != SNAPPY_OK || length != expected)
        throw std::runtime_error("SNAPPY data is corrupt (its length header says " +
                                 std::to_string(length) + " bytes, the page " +
                                 std::to_string(expected) + ")");
      if (snappy_uncompress(src, n, dst, &length) != SNAPPY_OK)
        throw std::runtime_error("SNAPPY data is corrupt");
      return;
    }
    case kGzip: {
      z_stream z{};
      if (inflateInit2(&z, 15 + 32) != Z_OK) throw std::runtime_error("zlib: inflateInit failed");
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(src));
      z.avail_in = static_cast<uInt>(n);
      z.next_out = reinterpret_cast<Bytef*>(dst);
      z.avail_out = static_cast<uInt>(expected);
      const int rc = inflate(&z, Z_FINISH);
      const size_t out = z.total_out;
      inflateEnd(&z);
      if (rc != Z_STREAM_END || out != expected)
        throw std::runtime_error("GZIP data is corrupt or not " + std::to_string(expected) +
                                 " bytes (zlib: " + (z.msg ? z.msg : std::to_string(rc)) + ")");
      return;
    }
    case kZstd: {
      const size_t r = ZSTD_decompress(dst, expected, src, n);
      if (ZSTD_isError(r)) throw std::runtime_error(std::string("ZSTD: ") + ZSTD_getErrorName(r));
      if (r != expected)
        throw std::runtime_error("ZSTD data holds " + std::to_string(r) + " bytes, the page " +
                                 std::to_string(expected));
      return;
    }
    case kBrotli: {
      size_t out = expected;
      if (BrotliDecoderDecompress(n, reinterpret_cast<const uint8_t*>(src), &out,
                                  reinterpret_cast<uint8_t*>(dst)) !=
              BROTLI_DECODER_RESULT_SUCCESS ||
          out != expected)
        throw std::runtime_error("BROTLI data is corrupt or not " + std::to_string(expected) +
                                 " bytes");
      return;
    }
    case kLz4Raw: {
      const int r = LZ4_decompress_safe(src, dst, static_cast<int>(n), static_cast<int>(expected));
      if (r < 0 || static_cast<size_t>(r) != expected)
        throw std::runtime_error("LZ4_RAW data is corrupt or not " + std::to_string(expected) +
                                 " bytes");
      return;
    }
    default: throw std::runtime_error("unsupported codec " + codec_name(codec));
  }
}

struct SchemaElement {
  int type = -1, repetition = -1, num_children = 0;
  std::string name;
};

}  // namespace

struct ParquetTextReader::Chunk {
  int64_t num_rows = 0, num_values = 0, start = 0, size = 0;
  int codec = 0, row_group = 0;
};

struct ParquetTextReader::PageInfo {
  int type = -1;
  int32_t uncompressed = -1, compressed = -1, num_values = -1;
  int encoding = -1, def_encoding = kRle;
  int32_t def_bytes = 0, rep_bytes = 0;  // DATA_PAGE_V2: level bytes, stored uncompressed
  bool is_compressed = true;
  size_t header_bytes = 0;
};

bool is_parquet(const std::string& path) {
  for (const std::string ext : {".parquet", ".parq", ".pq"})
    if (path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
      return true;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char head[4] = {}, tail[4] = {};
  struct stat st {};
  const bool magic = ::fstat(fd, &st) == 0 && st.st_size >= 12 && ::pread(fd, head, 4, 0) == 4 &&
                     ::pread(fd, tail, 4, st.st_size - 4) == 4 &&
                     std::memcmp(head, "PAR1", 4) == 0 && std::memcmp(tail, "PAR1", 4) == 0;
  ::close(fd);
  return magic;
}

ParquetTextReader::ParquetTextReader(const std::string& path, const std::string& column)
    : path_(path), column_(column) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  try {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw std::runtime_error(path + ": cannot stat");
    file_size_ = st.st_size;
    if (file_size_ < 12)
      throw std::runtime_error(path + ": not a Parquet file: " + std::to_string(file_size_) +
                               " bytes, fewer than its 12 bytes of magic and footer length");
    char head[4], tail[8];
    read_at(fd_, 0, 4, head, path);
    read_at(fd_, file_size_ - 8, 8, tail, path);
    if (std::memcmp(tail + 4, "PARE", 4) == 0)
      throw std::runtime_error(path + ": an encrypted Parquet file (footer magic PARE); "
                                      "crossover reads only unencrypted files");
    if (std::memcmp(head, "PAR1", 4) != 0 || std::memcmp(tail + 4, "PAR1", 4) != 0)
      throw std::runtime_error(path + ": not a Parquet file, or truncated: expected the magic "
                                      "\"PAR1\" at its first and last 4 bytes");
    uint32_t footer_len;
    std::memcpy(&footer_len, tail, 4);
    if (footer_len > static_cast<uint64_t>(file_size_ - 12))
      throw std::runtime_error(path + ": corrupt footer: its length (" +
                               std::to_string(footer_len) + " bytes, at byte " +
                               std::to_string(file_size_ - 8) + ") exceeds the file");
    footer_start_ = file_size_ - 8 - footer_len;
    std::string footer(footer_len, '\0');
    read_at(fd_, footer_start_, footer_len, footer.data(), path);
    const auto* data = reinterpret_cast<const uint8_t*>(footer.data());

    // Pass 1: the schema, to find the column's leaf index.
    std::vector<SchemaElement> schema;
    auto parse_footer = [&](auto&& on_row_group) {
      thrift::Reader r(data, footer.size());
      r.read_struct([&](int16_t id, uint8_t type) {
        if (id == 2 && type == thrift::kList && schema.empty()) {
          const auto [n, elem] = r.list();
          for (uint64_t i = 0; i < n; ++i) {
            SchemaElement e;
            r.read_struct([&](int16_t f, uint8_t t) {
              if (f == 1 && t == thrift::kI32) e.type = r.i32();
              if (f == 3 && t == thrift::kI32) e.repetition = r.i32();
              if (f == 4 && t == thrift::kBinary) e.name = r.binary();
              if (f == 5 && t == thrift::kI32) e.num_children = r.i32();
            });
            schema.push_back(std::move(e));
          }
        } else if (id == 3 && type == thrift::kI64) {
          num_rows_ = r.zigzag();
        } else if (id == 4 && type == thrift::kList) {
          on_row_group(r);
        }
      });
    };
    try {
      parse_footer([](thrift::Reader&) {});
    } catch (const std::runtime_error& e) {  // ThriftTruncated too
      throw std::runtime_error(path + ": corrupt footer (FileMetaData at byte " +
                               std::to_string(footer_start_) + "): " + e.what());
    }
    if (schema.empty() || schema[0].num_children <= 0)
      throw std::runtime_error(path + ": corrupt footer: no schema");
    // Walk the schema tree depth-first: leaves are numbered in that order.
    int leaf = -1, leaves = 0;
    std::string names;
    size_t i = 1;
    std::function<void(int)> walk = [&](int depth) {
      if (i >= schema.size()) throw std::runtime_error(path + ": corrupt footer: bad schema tree");
      const SchemaElement& e = schema[i++];
      if (depth == 1) {
        names += (names.empty() ? "" : ", ") + e.name;
        if (e.name == column) {
          if (e.num_children > 0)
            throw std::runtime_error(path + ": column \"" + column +
                                     "\" is a group (a nested struct, list or map); expected a "
                                     "top-level string column");
          if (e.repetition == kRepeated)
            throw std::runtime_error(path + ": column \"" + column +
                                     "\" is repeated (a list); expected one string per row");
          if (e.type != kByteArray)
            throw std::runtime_error(path + ": column \"" + column + "\" has type " +
                                     type_name(e.type) + "; expected BYTE_ARRAY (a string)");
          leaf = leaves;
          optional_ = e.repetition == kOptional;
        }
      }
      if (e.num_children <= 0) {
        ++leaves;
        return;
      }
      for (int c = 0; c < e.num_children; ++c) walk(depth + 1);
    };
    for (int c = 0; c < schema[0].num_children; ++c) walk(1);
    if (leaf < 0)
      throw std::runtime_error(path + ": no column \"" + column + "\" (the file has: " + names +
                               "; --text-key names the text's column)");

    // Pass 2: the column's chunk in every row group.
    try {
      parse_footer([&](thrift::Reader& r) {
        const auto [n, elem] = r.list();
        for (uint64_t g = 0; g < n; ++g) {
          Chunk chunk;
          chunk.row_group = static_cast<int>(g);
          bool found = false, external = false;
          int64_t data_offset = -1, dict_offset = -1;
          int type = -1;
          r.read_struct([&](int16_t f, uint8_t t) {
            if (f == 3 && t == thrift::kI64) chunk.num_rows = r.zigzag();
            if (f != 1 || t != thrift::kList) return;
            const auto [columns, ce] = r.list();
            for (uint64_t c = 0; c < columns; ++c) {
              if (c != static_cast<uint64_t>(leaf)) {
                r.skip(thrift::kStruct);
                continue;
              }
              found = true;
              r.read_struct([&](int16_t cf, uint8_t ct) {
                if (cf == 1 && ct == thrift::kBinary) external = !r.binary().empty();
                if (cf != 3 || ct != thrift::kStruct) return;
                r.read_struct([&](int16_t mf, uint8_t mt) {
                  if (mf == 1 && mt == thrift::kI32) type = r.i32();
                  if (mf == 4 && mt == thrift::kI32) chunk.codec = r.i32();
                  if (mf == 5 && mt == thrift::kI64) chunk.num_values = r.zigzag();
                  if (mf == 7 && mt == thrift::kI64) chunk.size = r.zigzag();
                  if (mf == 9 && mt == thrift::kI64) data_offset = r.zigzag();
                  if (mf == 11 && mt == thrift::kI64) dict_offset = r.zigzag();
                });
              });
            }
          });
          const std::string where = path + ": row group " + std::to_string(g) + ", column \"" +
                                    column + "\": ";
          if (!found) throw std::runtime_error(where + "missing from the row group's columns");
          if (external)
            throw std::runtime_error(where + "stored in another file (ColumnChunk.file_path); "
                                             "crossover reads self-contained files only");
          if (type != kByteArray)
            throw std::runtime_error(where + "column metadata says type " + type_name(type));
          if (!codec_supported(chunk.codec))
            throw std::runtime_error(
                where + "compressed with " + codec_name(chunk.codec) +
                ", which crossover does not read (it reads UNCOMPRESSED, SNAPPY, GZIP, ZSTD, "
                "BROTLI and LZ4_RAW); rewrite the file, e.g. pyarrow.parquet.write_table(t, "
                "path, compression=\"zstd\")");
          chunk.start = data_offset;
          if (dict_offset > 0 && dict_offset < data_offset) chunk.start = dict_offset;
          if (chunk.start < 4 || chunk.size <= 0 || chunk.start + chunk.size > footer_start_ ||
              chunk.num_values < 0)
            throw std::runtime_error(
                where + "corrupt column metadata: " + std::to_string(chunk.size) +
                " bytes at byte " + std::to_string(chunk.start) + " (the data ends at byte " +
                std::to_string(footer_start_) + ")");
          chunks_.push_back(chunk);
        }
      });
    } catch (const std::runtime_error& e) {  // the decoder's own errors lack the file name
      if (std::string_view(e.what()).rfind(path + ": ", 0) == 0) throw;
      throw std::runtime_error(path + ": corrupt footer (FileMetaData at byte " +
                               std::to_string(footer_start_) + "): " + e.what());
    }
    int64_t rows = 0;
    for (const auto& c : chunks_) rows += c.num_rows;
    if (rows != num_rows_)
      throw std::runtime_error(path + ": corrupt footer: the file says " +
                               std::to_string(num_rows_) + " rows, its row groups " +
                               std::to_string(rows));
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

ParquetTextReader::~ParquetTextReader() {
  if (fd_ >= 0) ::close(fd_);
}

int64_t ParquetTextReader::file_bytes() const { return done_ ? file_size_ : pos_; }

void ParquetTextReader::fail(const std::string& what) const {
  const int g = in_chunk_ ? chunks_[chunk_index_ - 1].row_group : static_cast<int>(chunk_index_);
  throw std::runtime_error(path_ + ": row group " + std::to_string(g) + ", column \"" + column_ +
                           "\", page at byte " + std::to_string(page_at_) + ": " + what);
}

bool ParquetTextReader::next(std::string* text, Value* kind) {
  for (;;) {
    if (level_pos_ < page_values_) {
      const bool null = optional_ && defs_[level_pos_] == 0;
      ++level_pos_;
      ++row_;
      if (null) {
        text->clear();
        *kind = Value::null;
        return true;
      }
      const std::string_view v = values_[value_pos_++];
      text->assign(v.data(), v.size());
      *kind = utf8_valid(v, &invalid_at_) ? Value::text : Value::invalid_utf8;
      return true;
    }
    if (done_) return false;
    if (!next_page() && !next_chunk()) {
      done_ = true;
      return false;
    }
  }
}

bool ParquetTextReader::next_chunk() {
  if (in_chunk_) {
    const Chunk& c = chunks_[chunk_index_ - 1];
    if (c.num_values != c.num_rows)
      fail("the column chunk holds " + std::to_string(c.num_values) + " values, its row group " +
           std::to_string(c.num_rows) + " rows");
  }
  in_chunk_ = false;
  if (chunk_index_ >= chunks_.size()) return false;
  const Chunk& c = chunks_[chunk_index_++];
  in_chunk_ = true;
  pos_ = page_at_ = c.start;
  chunk_end_ = c.start + c.size;
  chunk_values_ = 0;
  dict_.clear();
  dict_data_.clear();
  return true;
}

bool ParquetTextReader::next_page() {
  page_values_ = level_pos_ = value_pos_ = 0;
  if (!in_chunk_) return false;
  const Chunk& chunk = chunks_[chunk_index_ - 1];
  while (chunk_values_ < chunk.num_values) {
    page_at_ = pos_;
    if (pos_ >= chunk_end_)
      fail("the column chunk ends (at byte " + std::to_string(chunk_end_) + ") after " +
           std::to_string(chunk_values_) + " of its " + std::to_string(chunk.num_values) +
           " values");
    // The header: read a window, widened while the header runs past it.
    PageInfo info;
    for (size_t window = 1024;; window *= 4) {
      const size_t avail = static_cast<size_t>(chunk_end_ - pos_);
      window = std::min(window, avail);
      raw_.resize(window);
      read_at(fd_, pos_, window, raw_.data(), path_);
      info = PageInfo{};
      thrift::Reader r(reinterpret_cast<const uint8_t*>(raw_.data()), window);
      try {
        r.read_struct([&](int16_t f, uint8_t t) {
          if (f == 1 && t == thrift::kI32) info.type = r.i32();
          if (f == 2 && t == thrift::kI32) info.uncompressed = r.i32();
          if (f == 3 && t == thrift::kI32) info.compressed = r.i32();
          if ((f == 5 || f == 7 || f == 8) && t == thrift::kStruct)
            r.read_struct([&](int16_t h, uint8_t ht) {
              if (h == 1 && ht == thrift::kI32) info.num_values = r.i32();
              if (f == 8) {  // DataPageHeaderV2
                if (h == 4 && ht == thrift::kI32) info.encoding = r.i32();
                if (h == 5 && ht == thrift::kI32) info.def_bytes = r.i32();
                if (h == 6 && ht == thrift::kI32) info.rep_bytes = r.i32();
                if (h == 7 && (ht == thrift::kTrue || ht == thrift::kFalse))
                  info.is_compressed = thrift::Reader::field_bool(ht);
              } else {  // DataPageHeader, DictionaryPageHeader
                if (h == 2 && ht == thrift::kI32) info.encoding = r.i32();
                if (f == 5 && h == 3 && ht == thrift::kI32) info.def_encoding = r.i32();
              }
            });
        });
      } catch (const thrift::ThriftTruncated& e) {
        if (window < avail) continue;
        fail(std::string("truncated page header: ") + e.what());
      } catch (const std::runtime_error& e) {
        fail(std::string("corrupt page header: ") + e.what());
      }
      info.header_bytes = r.position();
      break;
    }
    if (info.type < 0 || info.compressed < 0 || info.uncompressed < 0)
      fail("corrupt page header (no type or sizes)");
    const int64_t body_at = pos_ + static_cast<int64_t>(info.header_bytes);
    if (info.compressed > chunk_end_ - body_at)
      fail("the page's " + std::to_string(info.compressed) +
           " bytes run past the column chunk's end at byte " + std::to_string(chunk_end_));
    pos_ = body_at + info.compressed;
    if (info.type != kDataPage && info.type != kDataPageV2 && info.type != kDictionaryPage)
      continue;  // an index page: nothing for us
    if (info.num_values < 0) fail("corrupt page header (no values count)");
    if (info.type != kDictionaryPage && info.num_values > chunk.num_values - chunk_values_)
      fail("a page of " + std::to_string(info.num_values) + " values, more than the " +
           std::to_string(chunk.num_values - chunk_values_) + " left in the column chunk");
    raw_.resize(static_cast<size_t>(info.compressed));
    read_at(fd_, body_at, raw_.size(), raw_.data(), path_);
    // DATA_PAGE_V2 stores its levels uncompressed before the (maybe compressed) values.
    size_t levels = 0;
    bool compressed = chunk.codec != kUncompressed;
    if (info.type == kDataPageV2) {
      if (info.def_bytes < 0 || info.rep_bytes < 0 ||
          static_cast<int64_t>(info.def_bytes) + info.rep_bytes > info.compressed ||
          static_cast<int64_t>(info.def_bytes) + info.rep_bytes > info.uncompressed)
        fail("corrupt DATA_PAGE_V2 header (level sizes exceed the page)");
      levels = static_cast<size_t>(info.def_bytes) + info.rep_bytes;
      compressed = compressed && info.is_compressed;
    }
    std::string body;
    if (!compressed) {
      if (info.compressed != info.uncompressed)
        fail("an uncompressed page of " + std::to_string(info.compressed) + " bytes says " +
             std::to_string(info.uncompressed) + " bytes uncompressed");
      body.swap(raw_);
    } else {
      body.resize(static_cast<size_t>(info.uncompressed));
      std::memcpy(body.data(), raw_.data(), levels);
      try {
        if (body.size() > levels)
          decompress(chunk.codec, raw_.data() + levels, raw_.size() - levels, body.data() + levels,
                     body.size() - levels);
      } catch (const std::runtime_error& e) {
        fail(e.what());
      }
    }
    text_bytes_ += static_cast<int64_t>(body.size());
    if (info.type == kDictionaryPage) {
      read_dictionary(info, std::move(body));
      continue;
    }
    decode_data_page(info, std::move(body), levels);
    return true;
  }
  return false;
}

void ParquetTextReader::read_dictionary(const PageInfo& info, std::string&& body) {
  if (!dict_.empty()) fail("a second dictionary page in one column chunk");
  if (info.encoding != kPlain && info.encoding != kPlainDictionary)
    fail("a dictionary page encoded " + encoding_name(info.encoding) + "; expected PLAIN");
  dict_data_ = std::move(body);
  try {
    decode_plain(dict_data_, static_cast<size_t>(info.num_values), &dict_);
  } catch (const std::runtime_error& e) {
    fail(std::string("dictionary page: ") + e.what());
  }
}

void ParquetTextReader::decode_data_page(const PageInfo& info, std::string&& body,
                                         size_t levels_bytes) {
  page_ = std::move(body);
  const size_t n = static_cast<size_t>(info.num_values);
  const auto* data = reinterpret_cast<const uint8_t*>(page_.data());
  size_t values_at = 0;
  defs_.assign(n, 1);
  try {
    if (info.type == kDataPage) {
      if (optional_) {
        if (info.def_encoding != kRle)
          fail("definition levels encoded " + encoding_name(info.def_encoding) +
               "; crossover reads RLE");
        if (page_.size() < 4) throw std::runtime_error("the page ends in its level length");
        uint32_t len;
        std::memcpy(&len, data, 4);
        if (len > page_.size() - 4)
          throw std::runtime_error("definition levels of " + std::to_string(len) +
                                   " bytes run past the page");
        RleBitPackedDecoder(data + 4, len, 1).decode(defs_.data(), n);
        values_at = 4 + len;
      }
    } else {
      if (info.rep_bytes != 0) fail("repetition levels in a non-repeated column");
      if (optional_) RleBitPackedDecoder(data, info.def_bytes, 1).decode(defs_.data(), n);
      values_at = levels_bytes;
    }
    size_t present = 0;
    for (uint8_t d : defs_) {
      if (d > 1) throw std::runtime_error("definition level " + std::to_string(d) + " > 1");
      present += d;
    }
    const std::string_view rest(page_.data() + values_at, page_.size() - values_at);
    switch (info.encoding) {
      case kPlain: decode_plain(rest, present, &values_); break;
      case kPlainDictionary:
      case kRleDictionary:
        if (dict_.empty() && present > 0)
          throw std::runtime_error("dictionary-encoded values without a dictionary page");
        decode_dictionary_indices(rest, present, dict_, &values_);
        break;
      case kDeltaLengthByteArray: decode_delta_length(rest, present, &values_); break;
      case kDeltaByteArray: decode_delta_byte_array(rest, present, &delta_values_, &values_); break;
      default:
        fail("values encoded " + encoding_name(info.encoding) +
             ", which crossover does not read (it reads PLAIN, dictionary, "
             "DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY)");
    }
  } catch (const std::runtime_error& e) {
    if (std::string_view(e.what()).rfind(path_ + ":", 0) == 0) throw;  // from fail()
    fail(std::string("data page: ") + e.what());
  }
  page_values_ = n;
  level_pos_ = value_pos_ = 0;
  chunk_values_ += static_cast<int64_t>(n);
}

}  // namespace crossover
