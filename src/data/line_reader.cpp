#include "crossover/data/line_reader.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace crossover {

namespace {

constexpr size_t kBufferBytes = 1 << 20;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string hex_bytes(const unsigned char* p, size_t n) {
  std::string out;
  char b[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof(b), i ? " %02x" : "%02x", p[i]);
    out += b;
  }
  return out;
}

}  // namespace

Compression compression_of(const std::string& path) {
  if (ends_with(path, ".gz")) return Compression::gzip;
  if (ends_with(path, ".zst") || ends_with(path, ".zstd")) return Compression::zstd;
  return Compression::none;
}

std::string without_compression_suffix(const std::string& path) {
  for (const char* suffix : {".gz", ".zst", ".zstd"})
    if (ends_with(path, suffix)) return path.substr(0, path.size() - std::strlen(suffix));
  return path;
}

// One back end per compression; read() returns decompressed bytes (0 at the end) or throws.
struct LineReader::Decoder {
  virtual ~Decoder() = default;
  virtual size_t read(char* out, size_t capacity) = 0;
  virtual int64_t file_bytes() const = 0;
};

namespace {

std::FILE* open_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(path + ": cannot open input file: " + std::strerror(errno));
  return f;
}

struct PlainDecoder final : LineReader::Decoder {
  explicit PlainDecoder(const std::string& path) : path_(path), file_(open_file(path)) {}
  ~PlainDecoder() override { std::fclose(file_); }
  size_t read(char* out, size_t capacity) override {
    const size_t n = std::fread(out, 1, capacity, file_);
    if (n == 0 && std::ferror(file_)) throw std::runtime_error(path_ + ": read error");
    bytes_ += static_cast<int64_t>(n);
    return n;
  }
  int64_t file_bytes() const override { return bytes_; }
  std::string path_;
  std::FILE* file_;
  int64_t bytes_ = 0;
};

// zlib's gz* interface: reads concatenated gzip members, as `gzip -d` does.
struct GzipDecoder final : LineReader::Decoder {
  explicit GzipDecoder(const std::string& path) : path_(path) {
    // gzread passes data that is not gzip through unchanged; a .gz name promises gzip, so a
    // file that is not must fail here rather than be read as text.
    std::FILE* f = open_file(path);
    unsigned char magic[2] = {};
    const size_t n = std::fread(magic, 1, 2, f);
    std::fclose(f);
    if (n > 0 && (n < 2 || magic[0] != 0x1f || magic[1] != 0x8b))
      throw std::runtime_error(path +
                               ": not gzip data (the name ends in .gz, but the file starts "
                               "with " +
                               hex_bytes(magic, n) + ", not 1f 8b)");
    gz_ = gzopen(path.c_str(), "rb");
    if (!gz_) throw std::runtime_error(path + ": cannot open input file: " + std::strerror(errno));
    gzbuffer(gz_, 1 << 18);
  }
  ~GzipDecoder() override { gzclose(gz_); }
  size_t read(char* out, size_t capacity) override {
    const int n = gzread(gz_, out, static_cast<unsigned>(std::min<size_t>(capacity, 1u << 30)));
    int err = Z_OK;
    const char* message = gzerror(gz_, &err);
    if (n < 0 || (err != Z_OK && err != Z_BUF_ERROR))
      throw std::runtime_error(path_ + ": corrupt gzip data: " + message);
    if (n == 0 && err == Z_BUF_ERROR)
      throw std::runtime_error(path_ + ": truncated gzip data (the file ends inside a "
                                       "compressed stream)");
    return static_cast<size_t>(n);
  }
  int64_t file_bytes() const override { return static_cast<int64_t>(gzoffset(gz_)); }
  std::string path_;
  gzFile gz_ = nullptr;
};

struct ZstdDecoder final : LineReader::Decoder {
  explicit ZstdDecoder(const std::string& path)
      : path_(path), file_(open_file(path)), stream_(ZSTD_createDStream()),
        in_buffer_(ZSTD_DStreamInSize()) {
    if (!stream_) throw std::runtime_error(path + ": cannot allocate a zstd decoder");
    ZSTD_initDStream(stream_);
  }
  ~ZstdDecoder() override {
    ZSTD_freeDStream(stream_);
    std::fclose(file_);
  }
  size_t read(char* out, size_t capacity) override {
    ZSTD_outBuffer o{out, capacity, 0};
    for (;;) {
      // Decode what is buffered; a call that filled the output may hold more inside the
      // decoder, so it is called again before more input is read.
      if (in_.pos < in_.size || output_was_full_) {
        pending_ = ZSTD_decompressStream(stream_, &o, &in_);
        if (ZSTD_isError(pending_))
          throw std::runtime_error(path_ + ": corrupt zstd data at compressed byte " +
                                   std::to_string(file_bytes()) + ": " +
                                   ZSTD_getErrorName(pending_));
        output_was_full_ = o.pos == o.size;
        if (o.pos > 0) return o.pos;
      }
      const size_t n = std::fread(in_buffer_.data(), 1, in_buffer_.size(), file_);
      if (n == 0) {
        if (std::ferror(file_)) throw std::runtime_error(path_ + ": read error");
        // At the end of the file the last frame must be complete (ZSTD returned 0).
        if (pending_ != 0)
          throw std::runtime_error(path_ + ": truncated zstd data (the file ends inside a frame)");
        return 0;
      }
      bytes_ += static_cast<int64_t>(n);
      in_ = {in_buffer_.data(), n, 0};
    }
  }
  int64_t file_bytes() const override { return bytes_ - static_cast<int64_t>(in_.size - in_.pos); }
  std::string path_;
  std::FILE* file_;
  ZSTD_DStream* stream_;
  std::vector<char> in_buffer_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  size_t pending_ = 0;  // ZSTD's hint: 0 when a frame has just been completed
  bool output_was_full_ = false;
  int64_t bytes_ = 0;
};

}  // namespace

LineReader::LineReader(const std::string& path) : path_(path), buffer_(kBufferBytes, '\0') {
  switch (compression_of(path)) {
    case Compression::gzip: decoder_ = std::make_unique<GzipDecoder>(path); break;
    case Compression::zstd: decoder_ = std::make_unique<ZstdDecoder>(path); break;
    case Compression::none: decoder_ = std::make_unique<PlainDecoder>(path); break;
  }
}

LineReader::~LineReader() = default;

int64_t LineReader::file_bytes() const { return decoder_->file_bytes(); }

bool LineReader::fill() {
  // Keep the unread tail, then read after it.
  if (pos_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // a line longer than the buffer
  const size_t n = decoder_->read(buffer_.data() + end_, buffer_.size() - end_);
  end_ += n;
  return n > 0;
}

bool LineReader::next(std::string* line) {
  size_t scanned = pos_;
  for (;;) {
    const void* nl = std::memchr(buffer_.data() + scanned, '\n', end_ - scanned);
    if (nl) {
      const size_t e = static_cast<const char*>(nl) - buffer_.data();
      size_t len = e - pos_;
      if (len > 0 && buffer_[e - 1] == '\r') --len;
      line->assign(buffer_.data() + pos_, len);
      text_bytes_ += static_cast<int64_t>(e + 1 - pos_);
      pos_ = e + 1;
      ++line_number_;
      return true;
    }
    scanned = end_ - pos_;  // fill() moves the unread bytes to the front
    if (!fill()) break;
  }
  if (pos_ == end_) return false;
  size_t len = end_ - pos_;
  if (buffer_[end_ - 1] == '\r') --len;
  line->assign(buffer_.data() + pos_, len);
  text_bytes_ += static_cast<int64_t>(end_ - pos_);
  pos_ = end_;
  ++line_number_;
  return true;
}

std::string LineReader::rest() {
  std::string out(buffer_.data() + pos_, end_ - pos_);
  pos_ = end_ = 0;
  std::vector<char> chunk(kBufferBytes);
  for (size_t n; (n = decoder_->read(chunk.data(), chunk.size())) > 0;) out.append(chunk.data(), n);
  text_bytes_ += static_cast<int64_t>(out.size());
  return out;
}

}  // namespace crossover
