#include "crossover/checkpoint/tensor_files.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "crossover/checkpoint/checkpoint_format.h"
#include "crossover/util/fs.h"
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

FileChecksums write_sharded_checkpoint(const std::string& dir, const ModelLayout& layout,
                                       int64_t rank, int64_t world,
                                       const std::vector<at::Tensor>& params,
                                       const std::vector<at::Tensor>& exp_avg,
                                       const std::vector<at::Tensor>& exp_avg_sq) {
  safetensors::NamedTensors model, optim;
  for (size_t g = 0; g < layout.groups.size(); ++g) {
    const std::string& name = layout.groups[g].name;
    model.emplace_back(name, params[g]);
    optim.emplace_back(prefixed("exp_avg", name), exp_avg[g]);
    optim.emplace_back(prefixed("exp_avg_sq", name), exp_avg_sq[g]);
  }
  const std::map<std::string, std::string> meta = {{"format", "crossover-sharded"}};
  const std::string model_file = shard_file("model", rank, world);
  const std::string optim_file = shard_file("optimizer", rank, world);
  FileChecksums sums;
  sums[model_file] = safetensors::write((fs::path(dir) / model_file).string(), model, meta);
  sums[optim_file] = safetensors::write((fs::path(dir) / optim_file).string(), optim, meta);
  return sums;
}

namespace {
// dst[i] = src[i] on the CPU, reusing dst[i] when it has the shape and dtype already. A copy
// from a GPU goes into pinned memory and is blocking: it is queued on the current stream after
// the step's update, and returns when it has landed.
void copy_to_host(std::vector<at::Tensor>& dst, const std::vector<at::Tensor>& src) {
  dst.resize(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    const at::Tensor& s = src[i];
    at::Tensor& d = dst[i];
    if (!d.defined() || d.sizes() != s.sizes() || d.scalar_type() != s.scalar_type())
      d = at::empty(s.sizes(),
                    at::TensorOptions().dtype(s.scalar_type()).pinned_memory(s.is_cuda()));
    d.copy_(s.detach(), /*non_blocking=*/false);
  }
}
}  // namespace

void CheckpointSnapshot::copy_from(const std::vector<at::Tensor>& p,
                                   const std::vector<at::Tensor>& m,
                                   const std::vector<at::Tensor>& v) {
  copy_to_host(params, p);
  copy_to_host(exp_avg, m);
  copy_to_host(exp_avg_sq, v);
}

FileChecksums CheckpointSnapshot::write(const std::string& dir, const ModelLayout& layout) const {
  switch (files) {
    case Files::kNone: return {};
    case Files::kFull: return write_full_checkpoint(dir, layout, params, exp_avg, exp_avg_sq);
    case Files::kSharded:
      return write_sharded_checkpoint(dir, layout, rank, world, params, exp_avg, exp_avg_sq);
  }
  return {};
}

void verify_checkpoint_file(const std::string& dir, const nlohmann::json& state,
                            const std::string& name) {
  // Files verified by this process: path -> (size, modification time) when verified.
  static std::mutex mutex;
  static std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> verified;
  const std::string path = (fs::path(dir) / name).string();
  const auto& files = state.contains("files") ? state["files"] : nlohmann::json();
  if (!files.is_object() || !files.contains(name) || !files[name].is_string())
    throw std::runtime_error(path + ": not listed with a checksum in " + dir + "/state.json");
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw std::runtime_error(path + ": missing checkpoint file listed in state.json");
  const auto mtime = fs::last_write_time(path, ec);
  {
    std::lock_guard<std::mutex> lock(mutex);
    const auto it = verified.find(path);
    if (it != verified.end() && it->second == std::make_pair(size, mtime)) return;
  }
  const std::string expected = files[name].get<std::string>();
  const std::string got = sha256_file(path);
  if (got != expected)
    throw std::runtime_error(path + ": checksum mismatch (state.json says " +
                             expected.substr(0, 16) + "..., the file hashes to " +
                             got.substr(0, 16) +
                             "...): the file is corrupt. Resume from an older checkpoint by "
                             "writing its directory name into checkpoints/latest");
  std::lock_guard<std::mutex> lock(mutex);
  verified[path] = {size, mtime};
}

at::Tensor read_checkpoint_range(const std::string& dir, const nlohmann::json& state,
                                 const ModelLayout& layout, size_t group, const std::string& kind,
                                 int64_t begin, int64_t count) {
  const GroupLayout& g = layout.groups.at(group);
  at::Tensor out = at::zeros({count}, at::kFloat);
  const int64_t end = begin + count;
  if (!state.contains("checkpoint_format"))
    throw std::runtime_error(dir + "/state.json: missing key \"checkpoint_format\"");
  const CheckpointFormat format = CheckpointFormat::from_json(state["checkpoint_format"],
                                                              dir + "/state.json");
  const std::string file_base = kind == "param" ? "model" : "optimizer";
  const bool listed = state.contains("files");  // checkpoints Checkpointer wrote list them all
  if (!format.sharded) {
    if (listed) verify_checkpoint_file(dir, state, file_base + ".safetensors");
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
  const int64_t world = format.world_size;
  if (format.groups.size() != layout.groups.size() || format.groups[group].numel != g.numel)
    throw std::runtime_error(dir + ": the checkpoint's parameter groups do not match the model");
  const int64_t shard = format.groups[group].shard_numel;
  for (int64_t r = 0; r < world; ++r) {
    const int64_t lo = std::max(begin, r * shard), hi = std::min({end, (r + 1) * shard, g.numel});
    if (lo >= hi) continue;
    if (listed) verify_checkpoint_file(dir, state, shard_file(file_base, r, world));
    const safetensors::File f((fs::path(dir) / shard_file(file_base, r, world)).string());
    at::Tensor dst = out.narrow(0, lo - begin, hi - lo);
    f.read_elements(prefixed(kind, g.name), lo - r * shard, hi - lo, dst);
  }
  return out;
}

}  // namespace crossover
