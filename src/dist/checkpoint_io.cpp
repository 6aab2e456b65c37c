// Checkpoint tensor files in both formats, and reading any range of any group from either —
// the mechanism behind resharding (fsdp on W ranks -> fsdp on W' ranks, or -> one process).
//
// full:    model.safetensors        {param name: tensor}
//          optimizer.safetensors    {"exp_avg/<name>": tensor, "exp_avg_sq/<name>": tensor}
// sharded: model.rank<r>-of-<W>.safetensors      {group name: this rank's flat slice}
//          optimizer.rank<r>-of-<W>.safetensors  {"exp_avg/<group>", "exp_avg_sq/<group>"}
//          rank r holds elements [r * shard, (r + 1) * shard) of the group's flat buffer padded
//          to W * shard elements; state.json "checkpoint_format" records W and each shard size.
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <memory>

#include "crossover/dist/sharding.h"
#include "crossover/util/safetensors.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {
std::string prefixed(const std::string& kind, const std::string& name) {
  return kind == "param" ? name : kind + "/" + name;
}
std::string shard_file(const std::string& base, int64_t rank, int64_t world) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%s.rank%05lld-of-%05lld.safetensors", base.c_str(),
                static_cast<long long>(rank), static_cast<long long>(world));
  return buf;
}
}  // namespace

FileChecksums write_full_checkpoint(const std::string& dir, const ModelLayout& layout,
                                    const std::vector<at::Tensor>& params,
                                    const std::vector<at::Tensor>& exp_avg,
                                    const std::vector<at::Tensor>& exp_avg_sq) {
  safetensors::NamedTensors model, optim;
  for (size_t g = 0; g < layout.groups.size(); ++g)
    for (const auto& p : layout.groups[g].params) {
      model.emplace_back(p.name, param_view(params[g], p));
      optim.emplace_back("exp_avg/" + p.name, param_view(exp_avg[g], p));
      optim.emplace_back("exp_avg_sq/" + p.name, param_view(exp_avg_sq[g], p));
    }
  FileChecksums sums;
  sums["model.safetensors"] = safetensors::write((fs::path(dir) / "model.safetensors").string(),
                                                 model, {{"format", "crossover-full"}});
  sums["optimizer.safetensors"] = safetensors::write(
      (fs::path(dir) / "optimizer.safetensors").string(), optim, {{"format", "crossover-full"}});
  return sums;
}

at::Tensor read_checkpoint_range(const std::string& dir, const nlohmann::json& state,
                                 const ModelLayout& layout, size_t group, const std::string& kind,
                                 int64_t begin, int64_t count) {
  const GroupLayout& g = layout.groups.at(group);
  at::Tensor out = at::zeros({count}, at::kFloat);
  const int64_t end = begin + count;
  const auto& format = state.at("checkpoint_format");
  const std::string file_base = kind == "param" ? "model" : "optimizer";
  if (format.at("kind") == "full") {
    const safetensors::File f((fs::path(dir) / (file_base + ".safetensors")).string());
    for (const auto& p : g.params) {
      const int64_t lo = std::max(begin, p.offset), hi = std::min(end, p.offset + p.numel);
      if (lo >= hi) continue;
      const std::string name = prefixed(kind, p.name);
      const auto& e = f.entry(name);
      int64_t numel = 1;
      for (int64_t s : e.shape) numel *= s;
      if (numel != p.numel)
        throw std::runtime_error(f.path() + ": tensor " + name + " has " + std::to_string(numel) +
                                 " elements, the model expects " + std::to_string(p.numel));
      at::Tensor dst = out.narrow(0, lo - begin, hi - lo);
      f.read_elements(name, lo - p.offset, hi - lo, dst);
    }
    return out;
  }
  // sharded
  const int64_t world = format.at("world_size").get<int64_t>();
  const auto& groups = format.at("groups");
  if (groups.size() != layout.groups.size() ||
      groups.at(group).at("numel").get<int64_t>() != g.numel)
    throw std::runtime_error(dir + ": the checkpoint's parameter groups do not match the model");
  const int64_t shard = groups.at(group).at("shard_numel").get<int64_t>();
  for (int64_t r = 0; r < world; ++r) {
    const int64_t lo = std::max(begin, r * shard), hi = std::min({end, (r + 1) * shard, g.numel});
    if (lo >= hi) continue;
    const safetensors::File f((fs::path(dir) / shard_file(file_base, r, world)).string());
    at::Tensor dst = out.narrow(0, lo - begin, hi - lo);
    f.read_elements(prefixed(kind, g.name), lo - r * shard, hi - lo, dst);
  }
  return out;
}

std::string sharded_file_name(const std::string& base, int64_t rank, int64_t world) {
  return shard_file(base, rank, world);
}

}  // namespace crossover
