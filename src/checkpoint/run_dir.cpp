#include "crossover/checkpoint/run_dir.h"

#include <filesystem>

namespace crossover {

namespace fs = std::filesystem;

DataDir RunDir::data_or(const std::string& data_path) const {
  const DataDir own = data();
  return fs::exists(own.meta()) ? own : DataDir{data_path};
}

void RunDir::copy_data_description(const DataDir& from) const {
  const DataDir to = data();
  fs::create_directories(to.root);
  fs::copy_file(from.tokenizer(), to.tokenizer(), fs::copy_options::overwrite_existing);
  fs::copy_file(from.meta(), to.meta(), fs::copy_options::overwrite_existing);
}

}  // namespace crossover
