#include "parquet_encodings.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace crossover {

namespace {

// `width` (<= 64) bits starting at bit `bit` of `data`, least significant bit first.
uint64_t read_bits(const uint8_t* data, size_t bit, int width) {
  uint64_t v = 0;
  int got = 0;
  size_t byte = bit >> 3;
  int shift = static_cast<int>(bit & 7);
  while (got < width) {
    const uint64_t b = static_cast<uint64_t>(data[byte++] >> shift);
    v |= b << got;
    got += 8 - shift;
    shift = 0;
  }
  return width == 64 ? v : v & ((uint64_t{1} << width) - 1);
}

struct Cursor {
  const uint8_t* data;
  size_t size, pos = 0;
  const char* what;

  [[noreturn]] void ran_out() const {
    throw std::runtime_error(std::string(what) + " ends early (at byte " + std::to_string(pos) +
                             " of " + std::to_string(size) + ")");
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= size) ran_out();
      const uint8_t b = data[pos++];
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::runtime_error(std::string(what) + ": a varint longer than 10 bytes");
  }
  uint64_t zigzag() {
    const uint64_t v = varint();
    return (v >> 1) ^ (~(v & 1) + 1);
  }
};

}  // namespace

bool utf8_valid(std::string_view s, size_t* bad) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {  // eight ASCII bytes at a time
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (!(w & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      *bad = i;
      return false;
    }
    if (i + len > n) {
      *bad = i;
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) {
        *bad = i;
        return false;
      }
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      *bad = i;
      return false;
    }
    i += len;
  }
  return true;
}

RleBitPackedDecoder::RleBitPackedDecoder(const uint8_t* data, size_t size, int bit_width)
    : data_(data), size_(size), bit_width_(bit_width) {
  if (bit_width < 0 || bit_width > 32)
    throw std::runtime_error("RLE/bit-packed bit width " + std::to_string(bit_width) +
                             " is not in 0..32");
}

uint32_t RleBitPackedDecoder::next() {
  for (;;) {
    if (repeat_left_ > 0) {
      --repeat_left_;
      return repeat_value_;
    }
    if (packed_left_ > 0) {
      if (((packed_bit_ + bit_width_ + 7) >> 3) > size_)
        throw std::runtime_error("RLE/bit-packed data ends inside a bit-packed run");
      const auto v = static_cast<uint32_t>(read_bits(data_, packed_bit_, bit_width_));
      packed_bit_ += bit_width_;
      --packed_left_;
      return v;
    }
    Cursor c{data_, size_, pos_, "RLE/bit-packed data"};
    if (pos_ >= size_) c.ran_out();
    const uint64_t header = c.varint();
    const uint64_t n = header >> 1;
    if (header & 1) {  // n groups of 8 bit-packed values
      packed_left_ = std::min<uint64_t>(n, uint64_t{1} << 40) * 8;  // the data bounds it anyway
      packed_bit_ = c.pos * 8;
      const size_t room = size_ - c.pos;
      c.pos = bit_width_ == 0 || n <= room / bit_width_ ? c.pos + n * bit_width_ : size_;
    } else {  // one value repeated n times, in ceil(width / 8) bytes
      const int bytes = (bit_width_ + 7) / 8;
      if (c.pos + bytes > size_) c.ran_out();
      uint32_t v = 0;
      for (int b = 0; b < bytes; ++b) v |= static_cast<uint32_t>(data_[c.pos + b]) << (8 * b);
      c.pos += bytes;
      if (bit_width_ < 32 && v >> bit_width_)
        throw std::runtime_error("RLE run value " + std::to_string(v) + " wider than " +
                                 std::to_string(bit_width_) + " bits");
      repeat_left_ = n;
      repeat_value_ = v;
    }
    pos_ = c.pos;
  }
}

void decode_plain(std::string_view data, size_t count, std::vector<std::string_view>* out) {
  out->clear();
  out->reserve(std::min(count, data.size() / 4));  // a corrupt count must not allocate
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    if (data.size() - pos < 4)
      throw std::runtime_error("PLAIN values end after " + std::to_string(i) + " of " +
                               std::to_string(count));
    uint32_t len;
    std::memcpy(&len, data.data() + pos, 4);
    pos += 4;
    if (len > data.size() - pos)
      throw std::runtime_error("PLAIN value " + std::to_string(i) + " of " + std::to_string(len) +
                               " bytes runs past the page");
    out->emplace_back(data.data() + pos, len);
    pos += len;
  }
}

void decode_dictionary_indices(std::string_view data, size_t count,
                               const std::vector<std::string_view>& dict,
                               std::vector<std::string_view>* out) {
  out->clear();
  if (count == 0) return;
  if (data.empty()) throw std::runtime_error("dictionary indices: no bit-width byte");
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  RleBitPackedDecoder indices(p + 1, data.size() - 1, p[0]);
  out->reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const uint32_t k = indices.next();
    if (k >= dict.size())
      throw std::runtime_error("dictionary index " + std::to_string(k) + " >= the dictionary's " +
                               std::to_string(dict.size()) + " values");
    out->push_back(dict[k]);
  }
}

size_t decode_delta_binary_packed(std::string_view data, size_t count, std::vector<int64_t>* out) {
  Cursor c{reinterpret_cast<const uint8_t*>(data.data()), data.size(), 0,
           "DELTA_BINARY_PACKED data"};
  const uint64_t block = c.varint(), minis = c.varint(), total = c.varint();
  uint64_t value = c.zigzag();
  if (block == 0 || block % 128 != 0 || minis == 0 || block % minis != 0 ||
      (block / minis) % 32 != 0)
    throw std::runtime_error("DELTA_BINARY_PACKED: block of " + std::to_string(block) +
                             " values in " + std::to_string(minis) +
                             " miniblocks (expected a multiple of 128 in miniblocks of a "
                             "multiple of 32)");
  if (total != count)
    throw std::runtime_error("DELTA_BINARY_PACKED: holds " + std::to_string(total) +
                             " values, expected " + std::to_string(count));
  out->clear();
  if (total == 0) return c.pos;
  out->reserve(count);
  out->push_back(static_cast<int64_t>(value));
  const uint64_t per_mini = block / minis;
  while (out->size() < total) {
    const uint64_t min_delta = c.zigzag();
    if (c.size - c.pos < minis) c.ran_out();
    const uint8_t* widths = c.data + c.pos;
    c.pos += minis;
    for (uint64_t m = 0; m < minis && out->size() < total; ++m) {
      const int w = widths[m];
      if (w > 64) throw std::runtime_error("DELTA_BINARY_PACKED: bit width " + std::to_string(w));
      const uint64_t bytes = per_mini * w / 8;  // a whole miniblock, the last one padded
      if (c.size - c.pos < bytes) c.ran_out();
      for (uint64_t j = 0; j < per_mini && out->size() < total; ++j) {
        value += min_delta + (w ? read_bits(c.data + c.pos, j * w, w) : 0);
        out->push_back(static_cast<int64_t>(value));
      }
      c.pos += bytes;
    }
  }
  return c.pos;
}

size_t decode_delta_length(std::string_view data, size_t count,
                           std::vector<std::string_view>* out) {
  std::vector<int64_t> lengths;
  size_t pos = decode_delta_binary_packed(data, count, &lengths);
  out->clear();
  out->reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const int64_t len = lengths[i];
    if (len < 0 || static_cast<uint64_t>(len) > data.size() - pos)
      throw std::runtime_error("DELTA_LENGTH_BYTE_ARRAY value " + std::to_string(i) + " of " +
                               std::to_string(len) + " bytes runs past the page");
    out->emplace_back(data.data() + pos, static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
  }
  return pos;
}

void decode_delta_byte_array(std::string_view data, size_t count, std::string* storage,
                             std::vector<std::string_view>* out) {
  std::vector<int64_t> prefixes;
  const size_t at = decode_delta_binary_packed(data, count, &prefixes);
  std::vector<std::string_view> suffixes;
  decode_delta_length(data.substr(at), count, &suffixes);
  // Sizes first (the storage is filled once, so views into it stay valid).
  size_t total = 0, previous = 0;
  for (size_t i = 0; i < count; ++i) {
    if (prefixes[i] < 0 || static_cast<uint64_t>(prefixes[i]) > previous)
      throw std::runtime_error("DELTA_BYTE_ARRAY value " + std::to_string(i) + ": prefix of " +
                               std::to_string(prefixes[i]) + " bytes, the previous value has " +
                               std::to_string(previous));
    previous = static_cast<size_t>(prefixes[i]) + suffixes[i].size();
    total += previous;
  }
  storage->resize(total);
  out->clear();
  out->reserve(count);
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    char* dst = storage->data() + pos;
    const size_t prefix = static_cast<size_t>(prefixes[i]);
    if (i > 0) std::memmove(dst, out->back().data(), prefix);
    std::memcpy(dst + prefix, suffixes[i].data(), suffixes[i].size());
    out->emplace_back(dst, prefix + suffixes[i].size());
    pos += prefix + suffixes[i].size();
  }
}

}  // namespace crossover
