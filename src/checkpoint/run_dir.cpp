#include "crossover/checkpoint/run_dir.h"

#include <filesystem>

#include "crossover/util/fs.h"

namespace crossover {

namespace fs = std::filesystem;

DataDir RunDir::data_or(const std::string& data_path) const {
  const DataDir own = data();
  return fs::exists(own.meta()) ? own : DataDir{data_path};
}

void RunDir::copy_data_description(const DataDir& from) const {
  const DataDir to = data();
  fs::create_directories(to.root);
  for (const auto& file : from.tokenizer_files())
    fs::copy_file(file, fs::path(to.root) / fs::path(file).filename(),
                  fs::copy_options::overwrite_existing);
  fs::copy_file(from.meta(), to.meta(), fs::copy_options::overwrite_existing);
}

void RunDir::write_run_files(const RunConfig& config) const {
  atomic_write_file(this->config(), dump_config(config));
  // The tokenizer and data description travel with the run: eval and generate need them.
  copy_data_description(DataDir{config.data.path});
}

}  // namespace crossover
