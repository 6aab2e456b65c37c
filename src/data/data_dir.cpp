#include "crossover/data/data_dir.h"

#include <stdexcept>

#include "crossover/data/prepare.h"

namespace crossover {

DataMeta DataMeta::read(const std::string& data_dir) {
  DataMeta m;
  m.json = read_data_meta(data_dir);
  const std::string where = DataDir{data_dir}.meta();
  try {
    m.vocab_size = m.json.at("vocab_size").get<int64_t>();
    m.eos_id = m.json.at("special_ids").at("eos").get<int32_t>();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(where + ": expected vocab_size and special_ids.eos (integers): " +
                             e.what());
  }
  return m;
}

}  // namespace crossover
