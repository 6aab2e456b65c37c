// A decoder of the Thrift compact protocol, just enough for Parquet's footer (FileMetaData) and
// page headers: structs are walked field by field and every field the caller does not ask for
// is skipped, so newer writers' extra fields are harmless. Spec: apache/thrift
// doc/specs/thrift-compact-protocol.md. Reading past the buffer throws ThriftTruncated (a page
// header is read from a window that may be too short; the caller widens it and retries); any
// other malformation throws std::runtime_error with the byte offset.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace crossover::thrift {

struct ThriftTruncated : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Compact protocol type codes.
enum Type : uint8_t {
  kStop = 0,
  kTrue = 1,
  kFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDouble = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t position() const { return pos_; }

  uint8_t byte() {
    if (pos_ >= size_) throw ThriftTruncated("thrift: truncated at byte " + std::to_string(pos_));
    return data_[pos_++];
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      const uint8_t b = byte();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::runtime_error("thrift: varint longer than 10 bytes at byte " + std::to_string(pos_));
  }
  int64_t zigzag() {
    const uint64_t v = varint();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  int32_t i32() {
    const int64_t v = zigzag();
    if (v < INT32_MIN || v > INT32_MAX)
      throw std::runtime_error("thrift: i32 out of range at byte " + std::to_string(pos_));
    return static_cast<int32_t>(v);
  }
  std::string_view binary() {
    const uint64_t n = varint();
    if (n > size_ - pos_)
      throw ThriftTruncated("thrift: a " + std::to_string(n) + "-byte string at byte " +
                            std::to_string(pos_) + " runs past the end");
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

  // Calls on_field(id, type) for each field of the struct starting here; on_field reads the
  // value (with the methods above, read_bool(type), list(), or skip(type)) and returns.
  template <typename F>
  void read_struct(F&& on_field) {
    if (++depth_ > kMaxDepth) throw std::runtime_error("thrift: structs nested too deeply");
    int16_t last_id = 0;
    for (;;) {
      const uint8_t header = byte();
      const uint8_t type = header & 0x0f;
      if (type == kStop) break;
      const int delta = header >> 4;
      const int16_t id = delta ? static_cast<int16_t>(last_id + delta)
                               : static_cast<int16_t>(zigzag());
      last_id = id;
      const size_t before = pos_;
      on_field(id, type);
      if (pos_ == before && type != kTrue && type != kFalse) skip(type);  // not read: skip it
    }
    --depth_;
  }
  // A boolean field's value is its type code.
  static bool field_bool(uint8_t type) { return type == kTrue; }

  // A list header: element count and element type.
  std::pair<uint64_t, uint8_t> list() {
    const uint8_t h = byte();
    uint64_t n = h >> 4;
    if (n == 15) n = varint();
    if (n > size_ - pos_)  // every element takes at least one byte
      throw ThriftTruncated("thrift: a list of " + std::to_string(n) + " elements at byte " +
                            std::to_string(pos_) + " runs past the end");
    return {n, static_cast<uint8_t>(h & 0x0f)};
  }

  void skip(uint8_t type) {
    switch (type) {
      case kTrue:
      case kFalse:  // a field's value is in its type; a list element is one byte
        return;
      case kByte: byte(); return;
      case kI16:
      case kI32:
      case kI64: varint(); return;
      case kDouble:
        for (int i = 0; i < 8; ++i) byte();
        return;
      case kBinary: binary(); return;
      case kList:
      case kSet: {
        const auto [n, elem] = list();
        for (uint64_t i = 0; i < n; ++i) {
          if (elem == kTrue || elem == kFalse) byte();
          else skip(elem);
        }
        return;
      }
      case kMap: {
        const uint64_t n = varint();
        if (n == 0) return;
        const uint8_t kv = byte();
        for (uint64_t i = 0; i < n; ++i) {
          skip_element(kv >> 4);
          skip_element(kv & 0x0f);
        }
        return;
      }
      case kStruct: read_struct([](int16_t, uint8_t) {}); return;
      default:
        throw std::runtime_error("thrift: unknown type " + std::to_string(type) + " at byte " +
                                 std::to_string(pos_));
    }
  }

 private:
  void skip_element(uint8_t type) {
    if (type == kTrue || type == kFalse) byte();
    else skip(type);
  }
  static constexpr int kMaxDepth = 64;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace crossover::thrift
