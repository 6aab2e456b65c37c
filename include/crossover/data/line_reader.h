// Lines of a corpus file as it is stored: plain, gzip (.gz, zlib) or zstd (.zst/.zstd, libzstd),
// chosen by the file name and checked against the file's first bytes, decompressed as a stream
// through a fixed buffer (a file is never held in memory). Errors name the file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace crossover {

enum class Compression { none, gzip, zstd };

// By the name's last extension: .gz -> gzip, .zst/.zstd -> zstd, anything else none.
Compression compression_of(const std::string& path);
// The name without its compression extension ("a.jsonl.zst" -> "a.jsonl").
std::string without_compression_suffix(const std::string& path);

class LineReader {
 public:
  explicit LineReader(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its '\n' (nor a '\r' before it); false at the end. A last line
  // without a newline is still a line.
  bool next(std::string* line);
  // Everything not read yet, as stored after decompression.
  std::string rest();
  // 1-based number of the line `next` returned last.
  int64_t line_number() const { return line_number_; }
  // Bytes of the file consumed so far (compressed bytes for .gz/.zst) and bytes after
  // decompression handed out so far.
  int64_t file_bytes() const;
  int64_t text_bytes() const { return text_bytes_; }
  const std::string& path() const { return path_; }

  struct Decoder;  // the decompression back end (defined in line_reader.cpp)

 private:
  bool fill();  // more decompressed bytes into the buffer; false at the end of the file
  std::string path_;
  std::unique_ptr<Decoder> decoder_;
  std::string buffer_;
  size_t pos_ = 0, end_ = 0;
  int64_t line_number_ = 0, text_bytes_ = 0;
};

}  // namespace crossover
