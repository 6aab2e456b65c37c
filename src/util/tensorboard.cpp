#include "crossover/util/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace crossover {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFileVersion = "brain.Event:2";
constexpr const char* kFilePrefix = "events.out.tfevents.";

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    table[i] = c;
  }
  return table;
}

// Protobuf wire format, only what Event needs: varints, fixed 32/64-bit, length-delimited.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}
template <class T>
void put_fixed(std::string& out, int field, T value) {  // double: wire type 1, float: 5
  put_tag(out, field, sizeof(T) == 8 ? 1 : 5);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  out.append(bytes, sizeof(T));
}
void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// The Event header every record starts with: wall time now and the step.
std::string event_header(int64_t step) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string e;
  put_fixed(e, 1, now);
  put_tag(e, 2, 0);
  put_varint(e, static_cast<uint64_t>(step));
  return e;
}

// A reader over one record's bytes; any malformation makes ok false.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) break;
      const uint8_t b = *p++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  Cursor sub(uint64_t n) {
    if (n > static_cast<uint64_t>(end - p)) {
      ok = false;
      return {end, end};
    }
    Cursor c{p, p + n};
    p += n;
    return c;
  }
  template <class T>
  T fixed() {
    T v{};
    if (static_cast<size_t>(end - p) < sizeof(T)) {
      ok = false;
      return v;
    }
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    return v;
  }
  // Skips a field of `wire_type` that this reader does not decode.
  void skip(int wire_type) {
    if (wire_type == 0) varint();
    else if (wire_type == 1) fixed<uint64_t>();
    else if (wire_type == 2) sub(varint());
    else if (wire_type == 5) fixed<uint32_t>();
    else ok = false;
  }
};

bool decode_event(const uint8_t* data, size_t size, TensorBoardEvent* e) {
  Cursor c{data, data + size};
  while (c.ok && c.p < c.end) {
    const uint64_t key = c.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == 1) {
      e->wall_time = c.fixed<double>();
    } else if (field == 2 && wire == 0) {
      e->step = static_cast<int64_t>(c.varint());
    } else if (field == 3 && wire == 2) {
      Cursor s = c.sub(c.varint());
      e->file_version.assign(reinterpret_cast<const char*>(s.p), s.end - s.p);
    } else if (field == 5 && wire == 2) {
      Cursor summary = c.sub(c.varint());
      while (c.ok && summary.ok && summary.p < summary.end) {
        const uint64_t k = summary.varint();
        if (k != (1u << 3 | 2)) {
          summary.skip(static_cast<int>(k & 7));
          continue;
        }
        Cursor value = summary.sub(summary.varint());
        std::pair<std::string, float> scalar;
        while (value.ok && value.p < value.end) {
          const uint64_t vk = value.varint();
          if (vk == (1u << 3 | 2)) {
            Cursor t = value.sub(value.varint());
            scalar.first.assign(reinterpret_cast<const char*>(t.p), t.end - t.p);
          } else if (vk == (2u << 3 | 5)) {
            scalar.second = value.fixed<float>();
          } else {
            value.skip(static_cast<int>(vk & 7));
          }
        }
        c.ok &= value.ok;
        e->scalars.push_back(std::move(scalar));
      }
      c.ok &= summary.ok;
    } else if (field == 7 && wire == 2) {
      Cursor log = c.sub(c.varint());
      while (log.ok && log.p < log.end) {
        const uint64_t lk = log.varint();
        if (lk == (1u << 3 | 0)) e->session_start = log.varint() == 1;
        else log.skip(static_cast<int>(lk & 7));
      }
      c.ok &= log.ok;
    } else {
      c.skip(wire);
    }
  }
  return c.ok;
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// Cuts an event file of a killed run before its first record past `keep_up_to_step`, or else
// after its last complete record (a torn write), so the steps that run again appear once.
void cut_after_step(const fs::path& file, int64_t keep_up_to_step) {
  uint64_t cut = 0;
  const auto events = read_tensorboard_events(file.string(), &cut);
  for (const auto& e : events)
    if (e.step > keep_up_to_step && e.file_version.empty()) {
      cut = e.offset;
      break;
    }
  if (cut != fs::file_size(file)) fs::resize_file(file, cut);
}

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t mask_crc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

TensorBoardWriter::TensorBoardWriter(const std::string& dir, std::optional<int64_t> resumed_from) {
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename().string().rfind(kFilePrefix, 0) != 0)
      continue;
    if (resumed_from) cut_after_step(entry.path(), *resumed_from);
    else fs::remove(entry.path());
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  // TensorBoard reads a run's files in name order: a zero-padded time keeps that the order in
  // which they were written.
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "%010lld", static_cast<long long>(now));
  const std::string base =
      (fs::path(dir) / (std::string(kFilePrefix) + stamp + "." + hostname())).string();
  path_ = base;
  for (int n = 1; fs::exists(path_); ++n) path_ = base + "." + std::to_string(n);
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw std::runtime_error(path_ + ": cannot create TensorBoard event file");
  std::string version = event_header(0);
  put_bytes(version, 3, kFileVersion);
  write_event(version);
  if (resumed_from) {
    std::string start = event_header(*resumed_from + 1);
    std::string session_log;
    put_tag(session_log, 1, 0);
    put_varint(session_log, 1);  // SessionLog.START
    put_bytes(start, 7, session_log);
    write_event(start);
  }
}

TensorBoardWriter& TensorBoardWriter::operator=(TensorBoardWriter&& other) noexcept {
  if (this != &other) {
    if (file_) std::fclose(file_);
    file_ = other.file_;
    path_ = std::move(other.path_);
    other.file_ = nullptr;
  }
  return *this;
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::write_event(const std::string& event) {
  const uint64_t length = event.size();
  const uint32_t length_crc = mask_crc32c(crc32c(&length, 8));
  const uint32_t data_crc = mask_crc32c(crc32c(event.data(), event.size()));
  std::string record(reinterpret_cast<const char*>(&length), 8);
  record.append(reinterpret_cast<const char*>(&length_crc), 4);
  record += event;
  record.append(reinterpret_cast<const char*>(&data_crc), 4);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() ||
      std::fflush(file_) != 0)
    throw std::runtime_error(path_ + ": cannot write TensorBoard event (disk full?)");
}

void TensorBoardWriter::add_scalars(int64_t step,
                                    const std::vector<std::pair<std::string, double>>& scalars) {
  if (!file_ || scalars.empty()) return;
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string v;
    put_bytes(v, 1, tag);
    put_fixed(v, 2, static_cast<float>(value));
    put_bytes(summary, 1, v);
  }
  std::string event = event_header(step);
  put_bytes(event, 5, summary);
  write_event(event);
}

void TensorBoardWriter::add_json_scalars(const std::string& prefix, int64_t step,
                                         const nlohmann::json& fields) {
  std::vector<std::pair<std::string, double>> scalars;
  auto walk = [&](auto&& self, const std::string& tag, const nlohmann::json& j) -> void {
    if (j.is_object()) {
      for (const auto& [key, value] : j.items()) self(self, tag + "/" + key, value);
    } else if (j.is_number()) {
      scalars.emplace_back(tag, j.get<double>());
    }
  };
  walk(walk, prefix, fields);
  add_scalars(step, scalars);
}

std::vector<TensorBoardEvent> read_tensorboard_events(const std::string& path,
                                                      uint64_t* valid_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open TensorBoard event file");
  std::vector<TensorBoardEvent> events;
  uint64_t offset = 0;
  std::string data;
  for (;;) {
    uint64_t length = 0;
    uint32_t length_crc = 0, data_crc = 0;
    if (!in.read(reinterpret_cast<char*>(&length), 8)) break;
    if (!in.read(reinterpret_cast<char*>(&length_crc), 4)) break;
    if (mask_crc32c(crc32c(&length, 8)) != length_crc || length > (uint64_t{1} << 31)) break;
    data.resize(length);
    if (!in.read(data.data(), static_cast<std::streamsize>(length))) break;
    if (!in.read(reinterpret_cast<char*>(&data_crc), 4)) break;
    if (mask_crc32c(crc32c(data.data(), data.size())) != data_crc) break;
    TensorBoardEvent e;
    e.offset = offset;
    if (!decode_event(reinterpret_cast<const uint8_t*>(data.data()), data.size(), &e)) break;
    events.push_back(std::move(e));
    offset += 8 + 4 + length + 4;
  }
  if (valid_bytes) *valid_bytes = offset;
  return events;
}

}  // namespace crossover
