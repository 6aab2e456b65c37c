// Readers of outside input refuse sizes no valid file has by name, before allocating them: a
// safetensors header claiming 2^60 bytes, a shape whose element count overflows, a checkpoint
// claiming a million ranks, a vocabulary beyond int32 ids, a 1 GB line in a task file.
#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <string>

#include "crossover/checkpoint/checkpoint_format.h"
#include "crossover/checkpoint/train_state.h"
#include "crossover/data/data_dir.h"
#include "crossover/eval/tasks.h"
#include "crossover/util/lines.h"
#include "crossover/util/safetensors_header.h"
#include "test_util.h"

namespace crossover {
namespace {

std::string safetensors_bytes(uint64_t header_length, const std::string& header,
                              size_t data_bytes = 0) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &header_length, 8);
  return s + header + std::string(data_bytes, '\0');
}

safetensors::Header parse(const std::string& bytes) {
  return safetensors::parse_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                   "w.safetensors");
}

TEST(InputLimits, SafetensorsHeaderLengthBeyondTheFormatsLimitIsRefusedByName) {
  const std::string huge = safetensors_bytes(uint64_t{1} << 60, "{}");
  EXPECT_NE(testing::error_of([&] {
              parse(huge);
            }).find("w.safetensors: header length 1152921504606846976 exceeds the format's limit"),
            std::string::npos);
  const std::string longer = safetensors_bytes(64, "{}");
  EXPECT_NE(testing::error_of([&] { parse(longer); }).find("exceeds the file size 10"),
            std::string::npos);
}

TEST(InputLimits, SafetensorsShapesMustBeNonNegativeAndCountable) {
  const auto one = [](const std::string& shape, uint64_t end) {
    const std::string h = R"({"t":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,)" +
                          std::to_string(end) + "]}}";
    return safetensors_bytes(h.size(), h, 16);
  };
  EXPECT_EQ(parse(one("[2,2]", 16)).entries.at("t").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_NE(
      testing::error_of([&] { parse(one("[-2,-2]", 16)); }).find("tensor t: negative dimension -2"),
      std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              parse(one("[4294967296,4294967296]", 16));
            }).find("tensor t: its shape has more elements than any file can hold"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] { parse(one("[2,2]", 12)); }).find("does not match its shape"),
            std::string::npos);
  const std::string meta = R"({"__metadata__":{"format":7}})";
  EXPECT_NE(testing::error_of([&] {
              parse(safetensors_bytes(meta.size(), meta));
            }).find("__metadata__.format is not a string"),
            std::string::npos);
}

TEST(InputLimits, CheckpointFormatRefusesImpossibleShardingsByKey) {
  const auto sharded = [](int64_t world, int64_t numel, int64_t shard) {
    return nlohmann::json{{"kind", "sharded"},
                          {"world_size", world},
                          {"groups", {{{"name", "g"}, {"numel", numel}, {"shard_numel", shard}}}}};
  };
  const CheckpointFormat ok = CheckpointFormat::from_json(sharded(4, 10, 3), "s.json");
  EXPECT_TRUE(ok.sharded);
  EXPECT_EQ(ok.to_json(), sharded(4, 10, 3));
  EXPECT_NE(testing::error_of([&] {
              CheckpointFormat::from_json(sharded(int64_t{1} << 40, 10, 3), "s.json");
            }).find("s.json: checkpoint_format.world_size: 1099511627776 is not in [1, 1048576]"),
            std::string::npos);
  EXPECT_NE(
      testing::error_of([&] {
        CheckpointFormat::from_json(sharded(4, 13, 3), "s.json");
      }).find("checkpoint_format.groups[0]: 4 shards of 3 elements cannot hold the group's 13"),
      std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              CheckpointFormat::from_json(sharded(2, 10, int64_t{1} << 62), "s.json");
            }).find("cannot hold"),
            std::string::npos);  // 2 x 2^62 overflows int64: refused, not wrapped
  EXPECT_NE(testing::error_of([&] {
              CheckpointFormat::from_json({{"kind", "zip"}}, "s.json");
            }).find("checkpoint_format.kind: expected full or sharded, got zip"),
            std::string::npos);
}

TEST(InputLimits, TrainStateNamesTheMissingOrMistypedKey) {
  TrainState s;
  s.step = 7;
  s.config = "model: {layers: 2}\n";
  s.objective = ObjectiveType::kMdm;
  s.sharding = ShardingKind::kFsdp;
  const TrainState back = TrainState::from_json(s.to_json(), "state.json");
  EXPECT_EQ(back.to_json(), s.to_json());
  nlohmann::json j = s.to_json();
  j.erase("sampler");
  EXPECT_EQ(testing::error_of([&] { TrainState::from_json(j, "ck/state.json"); }),
            "ck/state.json: missing key \"sampler\"");
  j = s.to_json();
  j["objective"] = "gpt";
  EXPECT_EQ(testing::error_of([&] { TrainState::from_json(j, "ck/state.json"); }),
            "ck/state.json: key \"objective\" is \"gpt\", expected one of ar, mdm");
  // A float where an integer belongs is refused, not converted (1e75 has no int64 value).
  j = s.to_json();
  j["tokens"] = 1.44e75;
  EXPECT_EQ(testing::error_of([&] { TrainState::from_json(j, "ck/state.json"); }),
            "ck/state.json: key \"tokens\": expected an integer");
}

TEST(InputLimits, DataMetaRefusesVocabulariesAndIdsOutsideTheTokenRange) {
  const auto meta = [](const std::string& vocab, const std::string& eos) {
    return R"({"vocab_size":)" + vocab + R"(,"special_ids":{"eos":)" + eos + "}}";
  };
  const DataMeta m = DataMeta::parse(meta("320", "2"), "d/meta.json");
  EXPECT_EQ(m.vocab_size, 320);
  EXPECT_EQ(m.eos_id, 2);
  EXPECT_NE(testing::error_of([&] {
              DataMeta::parse(meta("4000000000000", "2"), "d/meta.json");
            }).find("d/meta.json: vocab_size: 4000000000000 is not in [2, 2^31 - 1)"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              DataMeta::parse(meta("320", "320"), "d/meta.json");
            }).find("special_ids.eos: 320 is not a token id of the 320-piece vocabulary"),
            std::string::npos);
}

TEST(InputLimits, BoundedLinesStripLineEndsAndRefuseALineBeyondTheLimit) {
  std::istringstream in("one\r\ntwo\n\nlast");
  std::string line;
  std::vector<std::string> got;
  int64_t n = 0;
  while (read_bounded_line(in, line, "f.jsonl", ++n)) got.push_back(line);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "", "last"}));
  std::istringstream longer("short\n" + std::string(40, 'x') + "\n");
  n = 0;
  ASSERT_TRUE(read_bounded_line(longer, line, "f.jsonl", ++n, 32));
  EXPECT_EQ(
      testing::error_of([&] { read_bounded_line(longer, line, "f.jsonl", ++n, 32); }).substr(0, 10),
      "f.jsonl:2:");
}

TEST(InputLimits, ATaskLineOfMoreThan64MiBIsRefusedWithItsFileAndLine) {
  testing::TempDir dir;
  const std::string path = dir / "huge.jsonl";
  {
    std::ofstream out(path, std::ios::binary);
    out << R"({"ctx": "a", "endings": ["b", "c"], "label": 0})"
        << "\n";
    const std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 65; ++i) out << chunk;  // one line of 65 MiB
    out << "\n";
  }
  const std::string err = testing::error_of([&] { read_task(path); });
  EXPECT_NE(err.find(path + ":2: a line longer than 64 MiB"), std::string::npos) << err;
}

}  // namespace
}  // namespace crossover
