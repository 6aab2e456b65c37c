#include "crossover/hf/weight_files.h"

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "crossover/util/fs.h"

namespace crossover::hf {

namespace fs = std::filesystem;

WeightFiles::WeightFiles(const std::string& dir) : dir_(dir) {
  const fs::path index = fs::path(dir) / kIndexFile, single = fs::path(dir) / kSingleFile;
  if (fs::exists(index)) {
    index_ = true;
    const auto j = nlohmann::json::parse(read_text_file(index.string()), nullptr, false);
    if (j.is_discarded() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw std::runtime_error(index.string() + ": expected a JSON object with a \"weight_map\" "
                                                "of tensor names to shard files");
    std::map<std::string, size_t> file_index;
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string())
        throw std::runtime_error(index.string() + ": weight_map[\"" + name +
                                 "\"]: expected a file name, got " + file.dump());
      const std::string f = file.get<std::string>();
      auto it = file_index.find(f);
      if (it == file_index.end()) {
        const fs::path path = fs::path(dir) / f;
        if (!fs::exists(path))
          throw std::runtime_error(index.string() + ": lists " + f + " for " + name +
                                   ", which does not exist");
        files_.push_back(std::make_unique<safetensors::File>(path.string()));
        it = file_index.emplace(f, files_.size() - 1).first;
      }
      if (!files_[it->second]->contains(name))
        throw std::runtime_error(files_[it->second]->path() + ": no tensor " + name + " (" +
                                 index.string() + " places it there)");
      where_[name] = it->second;
    }
    return;
  }
  if (!fs::exists(single)) {
    std::string hint;
    if (fs::exists(fs::path(dir) / "pytorch_model.bin") ||
        fs::exists(fs::path(dir) / "pytorch_model.bin.index.json"))
      hint = "; it holds pickled PyTorch weights: load and save_pretrained them with "
             "safe_serialization=True first";
    throw std::runtime_error(dir + ": no " + std::string(kSingleFile) + " or " + kIndexFile +
                             " (a Hugging Face model directory in safetensors)" + hint);
  }
  files_.push_back(std::make_unique<safetensors::File>(single.string()));
  for (const auto& name : files_[0]->names()) where_[name] = 0;
}

WeightFiles::~WeightFiles() = default;

std::vector<std::string> WeightFiles::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : where_) out.push_back(name);
  return out;
}

const std::string& WeightFiles::path_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw std::runtime_error(dir_ + ": no tensor " + name);
  return files_[it->second]->path();
}

const std::vector<int64_t>& WeightFiles::shape(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw std::runtime_error(dir_ + ": no tensor " + name);
  return files_[it->second]->entry(name).shape;
}

at::Tensor WeightFiles::tensor(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw std::runtime_error(dir_ + ": no tensor " + name);
  return files_[it->second]->tensor(name);
}

std::string shard_file_name(size_t index, size_t count) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return buf;
}

std::vector<std::vector<size_t>> plan_shards(const std::vector<int64_t>& bytes, int64_t max_bytes) {
  std::vector<std::vector<size_t>> shards;
  int64_t used = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (shards.empty() || (used + bytes[i] > max_bytes && used > 0)) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().push_back(i);
    used += bytes[i];
  }
  return shards;
}

void write_index(const std::string& dir, int64_t total_bytes,
                 const std::map<std::string, std::string>& weight_map) {
  nlohmann::ordered_json j;
  j["metadata"] = {{"total_size", total_bytes}};
  j["weight_map"] = nlohmann::ordered_json::object();
  for (const auto& [name, file] : weight_map) j["weight_map"][name] = file;
  atomic_write_file((fs::path(dir) / kIndexFile).string(), j.dump(2) + "\n");
}

}  // namespace crossover::hf
