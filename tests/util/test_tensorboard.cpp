// The hand-written TensorBoard event files: CRC32C against published vectors, the record
// framing byte for byte, the scalars and their tags, and the cut of a killed run's events on
// resume. tests/train/test_tensorboard_events.cpp reads real runs with TensorBoard itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "crossover/util/tensorboard.h"
#include "test_util.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> event_files(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Crc32c, MatchesPublishedVectors) {
  // The CRC-32C check value, and RFC 3720 (iSCSI) appendix B.4's 32-byte vectors.
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);
  std::vector<uint8_t> bytes(32, 0x00);
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x8a9136aau);
  std::fill(bytes.begin(), bytes.end(), 0xff);
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x46dd794eu);
  // Continuing a checksum equals checksumming the concatenation.
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345", 5)), 0xe3069283u);
  // The TFRecord mask, as TensorBoard's own reader computes it (its masked_crc32c).
  EXPECT_EQ(mask_crc32c(crc32c("123456789", 9)), 0xc78ab0e5u);
}

TEST(TensorBoardWriter, RecordsAreFramedAndEventsHoldTheScalars) {
  testing::TempDir dir;
  std::string path;
  {
    TensorBoardWriter w(dir / "tb", std::nullopt);
    path = w.path();
    w.add_json_scalars("eval", 20,
                       {{"val_loss", 2.5},
                        {"examples", 16},
                        {"status", "ok"},
                        {"flag", true},
                        {"none", nullptr},
                        {"tasks", {{"cloze", {{"acc", 0.25}}}}}});
    w.add_scalars(21, {{"train/loss", 1e-3}});
    w.add_scalars(22, {});  // nothing to write: no event
  }
  const std::string name = fs::path(path).filename().string();
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.size() - std::strlen(host)), host) << name;

  // Framing: u64 length, masked CRC of the length, data, masked CRC of the data.
  const std::string bytes = testing::read_file(path);
  uint64_t length = 0;
  uint32_t length_crc = 0, data_crc = 0;
  std::memcpy(&length, bytes.data(), 8);
  std::memcpy(&length_crc, bytes.data() + 8, 4);
  std::memcpy(&data_crc, bytes.data() + 12 + length, 4);
  EXPECT_EQ(length_crc, mask_crc32c(crc32c(bytes.data(), 8)));
  EXPECT_EQ(data_crc, mask_crc32c(crc32c(bytes.data() + 12, length)));
  // The first event: wall_time (field 1, fixed64), step 0 (field 2), file_version (field 3).
  EXPECT_EQ(static_cast<uint8_t>(bytes[12]), 0x09);
  EXPECT_EQ(static_cast<uint8_t>(bytes[21]), 0x10);
  EXPECT_EQ(bytes.substr(12 + 11, 2 + 13), std::string("\x1a\x0d") + "brain.Event:2");

  uint64_t valid = 0;
  const auto events = read_tensorboard_events(path, &valid);
  EXPECT_EQ(valid, bytes.size());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_GT(events[0].wall_time, 1.6e9);  // seconds since 1970
  EXPECT_EQ(events[1].step, 20);
  EXPECT_EQ(events[1].scalars,
            (std::vector<std::pair<std::string, float>>{{"eval/examples", 16.0f},
                                                        {"eval/tasks/cloze/acc", 0.25f},
                                                        {"eval/val_loss", 2.5f}}));
  EXPECT_EQ(events[2].step, 21);
  EXPECT_EQ(events[2].scalars, (std::vector<std::pair<std::string, float>>{{"train/loss", 1e-3f}}));
}

TEST(TensorBoardWriter, ResumeCutsTheKilledRunAfterItsStepAndAFreshRunStartsOver) {
  testing::TempDir dir;
  const std::string tb = dir / "tb";
  std::string first;
  {
    TensorBoardWriter w(tb, std::nullopt);
    first = w.path();
    for (int s = 1; s <= 10; ++s) w.add_scalars(s, {{"train/loss", 1.0 / s}});
  }
  // A kill in the middle of a write leaves a torn record.
  {
    std::ofstream torn(first, std::ios::binary | std::ios::app);
    torn << std::string("\x30\x00\x00\x00\x00\x00\x00\x00\x01\x02", 10);
  }
  EXPECT_EQ(read_tensorboard_events(first).size(), 11u);  // the torn tail is not an event

  {
    TensorBoardWriter resumed(tb, int64_t{6});
    EXPECT_NE(resumed.path(), first);  // a file of its own
    resumed.add_scalars(7, {{"train/loss", 0.5}});
  }
  const auto files = event_files(tb);
  ASSERT_EQ(files.size(), 2u);
  const auto old_events = read_tensorboard_events(first);
  ASSERT_EQ(old_events.size(), 7u);  // the version record and steps 1-6
  EXPECT_EQ(old_events.back().step, 6);
  uint64_t valid = 0;
  read_tensorboard_events(first, &valid);
  EXPECT_EQ(valid, fs::file_size(first)) << "the torn record was cut off too";
  const auto new_events = read_tensorboard_events(files[1].string());
  ASSERT_EQ(new_events.size(), 3u);
  EXPECT_EQ(new_events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(new_events[1].session_start);  // tells a running TensorBoard to drop steps >= 7
  EXPECT_EQ(new_events[1].step, 7);
  EXPECT_EQ(new_events[2].step, 7);
  EXPECT_FLOAT_EQ(new_events[2].scalars.at(0).second, 0.5f);

  // A fresh run in the same directory (no checkpoint to resume) starts a new history.
  { TensorBoardWriter fresh(tb, std::nullopt); }
  EXPECT_EQ(event_files(tb).size(), 1u);
}

}  // namespace
}  // namespace crossover
