// TensorBoard event files, written by hand: the format is small and stable, and TensorBoard's
// own writer would bring TensorFlow or protobuf in.
//
// An event file is a sequence of TFRecord records, each
//   u64 length | u32 masked CRC32C(length bytes) | data | u32 masked CRC32C(data)
// (little-endian; masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8), where each record's data is
// a serialized tensorflow.Event protobuf:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
//             SessionLog session_log = 7; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
//   SessionLog { SessionStatus status = 1; }  (START = 1)
// The first record holds file_version "brain.Event:2" only; TensorBoard reads that as "this
// writer marks restarts with SessionLog.START".
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace crossover {

// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) of `size` bytes, continuing from `crc`
// (0 for a fresh checksum): crc32c("123456789") == 0xe3069283.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
// The TFRecord mask of a CRC (so that a CRC over data holding CRCs stays well distributed).
uint32_t mask_crc32c(uint32_t crc);

// One decoded event (what crossover writes; other fields are skipped).
struct TensorBoardEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  bool session_start = false;
  std::vector<std::pair<std::string, float>> scalars;
  uint64_t offset = 0;  // where its record starts in the file
};

// Appends scalars to a new event file in a directory; every event is flushed as it is written
// so a killed run keeps its curves. A default-constructed writer writes nothing.
class TensorBoardWriter {
 public:
  TensorBoardWriter() = default;
  // Creates `dir` and opens `dir`/events.out.tfevents.<unix time>.<hostname> (".1", ".2", ...
  // appended when a process of the same second on the same host took that name). The history
  // in `dir` follows metrics.jsonl's: a fresh run (no `resumed_from`) removes the event files
  // already there; a run resumed from step S first cuts each of them before its first event
  // past S (those steps run again) and starts its own with a SessionLog.START at S + 1, which
  // makes a TensorBoard already showing the old events drop them too.
  TensorBoardWriter(const std::string& dir, std::optional<int64_t> resumed_from);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;
  TensorBoardWriter(TensorBoardWriter&& other) noexcept { *this = std::move(other); }
  TensorBoardWriter& operator=(TensorBoardWriter&& other) noexcept;

  bool is_open() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }
  // One event at `step` holding each (tag, value) as a float scalar.
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& scalars);
  // Every number in `fields` as `prefix/key`, nested objects as `prefix/key/inner/...`;
  // strings, booleans and nulls are not scalars and are left out.
  void add_json_scalars(const std::string& prefix, int64_t step, const nlohmann::json& fields);

 private:
  void write_event(const std::string& event);
  std::FILE* file_ = nullptr;
  std::string path_;
};

// Reads every complete record of an event file. Stops at a torn or corrupt record (a run killed
// mid-write) and returns the byte offset where the valid records end in *valid_bytes.
std::vector<TensorBoardEvent> read_tensorboard_events(const std::string& path,
                                                      uint64_t* valid_bytes = nullptr);

}  // namespace crossover
