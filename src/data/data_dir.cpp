#include "crossover/data/data_dir.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace crossover {

namespace {

// meta.json is a few KB, plus a line per input file of the corpus: 256 MiB is millions of
// input files, and a larger file is not a data description.
constexpr uintmax_t kMaxMetaBytes = uintmax_t{256} << 20;

}  // namespace

std::string DataDir::tokenizer() const {
  for (const char* name : {kTokenizer, "tokenizer.json", "tokenizer.tiktoken"})
    if (std::filesystem::exists(root + "/" + name)) return root + "/" + name;
  return root + "/" + kTokenizer;
}

std::vector<std::string> DataDir::tokenizer_files() const {
  std::vector<std::string> files = {tokenizer()};
  if (std::filesystem::exists(files[0] + ".json")) files.push_back(files[0] + ".json");
  return files;
}

DataMeta DataMeta::parse(const std::string& text, const std::string& where) {
  DataMeta m;
  m.json = nlohmann::json::parse(text, nullptr, false);
  if (m.json.is_discarded() || !m.json.is_object())
    throw std::runtime_error(where + ": malformed JSON");
  const auto& j = m.json;
  if (!j.contains("vocab_size") || !j["vocab_size"].is_number_integer())
    throw std::runtime_error(where + ": vocab_size: expected an integer");
  m.vocab_size = j["vocab_size"].get<int64_t>();
  // Token ids are int32 in the tokenizer and uint16/uint32 in the stores; [MASK] is vocab_size.
  if (m.vocab_size < 2 || m.vocab_size >= std::numeric_limits<int32_t>::max())
    throw std::runtime_error(where + ": vocab_size: " + std::to_string(m.vocab_size) +
                             " is not in [2, 2^31 - 1)");
  if (!j.contains("special_ids") || !j["special_ids"].is_object() ||
      !j["special_ids"].contains("eos") || !j["special_ids"]["eos"].is_number_integer())
    throw std::runtime_error(where + ": special_ids.eos: expected an integer");
  const int64_t eos = j["special_ids"]["eos"].get<int64_t>();
  if (eos < 0 || eos >= m.vocab_size)
    throw std::runtime_error(where + ": special_ids.eos: " + std::to_string(eos) +
                             " is not a token id of the " + std::to_string(m.vocab_size) +
                             "-piece vocabulary");
  m.eos_id = static_cast<int32_t>(eos);
  return m;
}

DataMeta DataMeta::read(const std::string& data_dir) {
  const std::string path = DataDir{data_dir}.meta();
  std::error_code ec;
  const uintmax_t bytes = std::filesystem::file_size(path, ec);
  if (ec)
    throw std::runtime_error(path +
                             ": not found; prepare the data first (crossover prepare "
                             "--corpus kjv --out " +
                             data_dir + ")");
  if (bytes > kMaxMetaBytes)
    throw std::runtime_error(
        path + ": " + std::to_string(bytes) +
        " bytes, more than any meta.json holds (256 MiB): not a data description");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw std::runtime_error(path + ": cannot read");
  return parse(text.str(), path);
}

}  // namespace crossover
