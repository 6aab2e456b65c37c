#include "crossover/checkpoint/checkpointer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "crossover/util/fault.h"
#include "crossover/util/fs.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {
constexpr const char* kPrefix = "step_";

bool is_step_dir(const fs::path& p) {
  const std::string n = p.filename().string();
  return n.rfind(kPrefix, 0) == 0 && n.find('.') == std::string::npos && fs::is_directory(p);
}

std::string step_dir_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "%s%08lld", kPrefix, static_cast<long long>(step));
  return name;
}

// The directory checkpoints/latest names, or nullopt when there is no `latest` yet.
std::optional<std::string> read_latest(const fs::path& checkpoints) {
  const fs::path p = checkpoints / "latest";
  if (!fs::exists(p)) return std::nullopt;
  std::string name = read_text_file(p.string());
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  const fs::path dir = checkpoints / name;
  if (!fs::is_directory(dir))
    throw std::runtime_error(p.string() + ": names " + name + ", which does not exist");
  return dir.string();
}
}  // namespace

Checkpointer::Checkpointer(std::string run_dir, int64_t keep_last, Comm& comm)
    : run_dir_(std::move(run_dir)), keep_last_(keep_last), comm_(comm) {}

std::string Checkpointer::checkpoints_dir() const {
  return (fs::path(run_dir_) / "checkpoints").string();
}

std::string Checkpointer::dir_for(int64_t step) const {
  return (fs::path(checkpoints_dir()) / step_dir_name(step)).string();
}

std::string Checkpointer::save(
    int64_t step, const TrainState& train_state,
    const std::function<FileChecksums(const std::string&)>& write_tensors) {
  try {
    begin(step);
    write_part(step, write_tensors);
    comm_.barrier();  // every rank's part is on disk
    if (comm_.rank() == 0) commit(step, train_state);
  } catch (const std::exception& e) {
    // A failed write (a full disk, say) must not leave its partial directory behind: on a full
    // disk it holds the very space the rerun needs. The previous checkpoint and `latest` are
    // untouched, so the run stops with the error and resumes from there.
    if (comm_.rank() == 0) remove_partial(step);
    throw;
  }
  comm_.barrier();
  return dir_for(step);
}

std::string Checkpointer::begin(int64_t step) {
  const std::string tmp = dir_for(step) + ".tmp";
  if (comm_.rank() == 0) {
    fs::create_directories(checkpoints_dir());
    fs::remove_all(tmp);  // debris of a write that was killed
    fs::create_directories(tmp);
  }
  comm_.barrier();
  return tmp;
}

void Checkpointer::write_part(
    int64_t step, const std::function<FileChecksums(const std::string&)>& write_tensors) {
  const std::string tmp = dir_for(step) + ".tmp";
  const WriteFaultScope fault_scope(step);  // CROSSOVER_FAULT=enospc@step (util/fault.h)
  const FileChecksums mine = write_tensors(tmp);
  fault_point("checkpoint", step);
  // Written last and atomically: its presence says this rank's files are complete and durable.
  atomic_write_file(
      (fs::path(tmp) / ("checksums.rank" + std::to_string(comm_.rank()) + ".json")).string(),
      nlohmann::json(mine).dump());
}

std::string Checkpointer::commit(int64_t step, const TrainState& train_state) {
  if (comm_.rank() != 0) throw std::logic_error("Checkpointer::commit: rank 0 commits");
  const std::string final_dir = dir_for(step);
  const std::string tmp = final_dir + ".tmp";
  const WriteFaultScope fault_scope(step);
  nlohmann::json state = train_state.to_json();
  nlohmann::json files = nlohmann::json::object();
  for (int r = 0; r < comm_.world_size(); ++r) {
    const fs::path p = fs::path(tmp) / ("checksums.rank" + std::to_string(r) + ".json");
    if (!fs::exists(p))
      throw std::runtime_error(p.string() + ": missing: rank " + std::to_string(r) +
                               " has not finished its part of the checkpoint");
    const auto rank_files = nlohmann::json::parse(read_text_file(p.string()));
    for (auto& [name, sha] : rank_files.items()) files[name] = sha;
  }
  for (int r = 0; r < comm_.world_size(); ++r)
    fs::remove(fs::path(tmp) / ("checksums.rank" + std::to_string(r) + ".json"));
  state["files"] = files;
  atomic_write_file((fs::path(tmp) / "state.json").string(), state.dump(2) + "\n");
  if (fs::exists(final_dir)) fs::remove_all(final_dir);  // same step saved again (a rerun)
  fs::rename(tmp, final_dir);
  sync_path(checkpoints_dir());
  atomic_write_file((fs::path(checkpoints_dir()) / "latest").string(),
                    fs::path(final_dir).filename().string() + "\n");
  prune();
  return final_dir;
}

void Checkpointer::remove_partial(int64_t step) {
  const std::string tmp = dir_for(step) + ".tmp";
  std::error_code ec;
  if (fs::remove_all(tmp, ec) > 0 && !ec)
    spdlog::error("checkpoint at step {} failed; removed the partial {}", step, tmp);
}

std::vector<std::string> Checkpointer::remove_partial_writes() {
  std::vector<std::string> removed;
  std::error_code ec;
  if (!fs::is_directory(checkpoints_dir(), ec)) return removed;
  // step_N.tmp/ directories and latest.tmp: writes a crash (or a full disk, before a failed
  // write cleaned up after itself) left unfinished. Nothing else there ends in .tmp.
  for (const auto& e : fs::directory_iterator(checkpoints_dir())) {
    if (e.path().extension() != ".tmp") continue;
    fs::remove_all(e.path());
    removed.push_back(e.path().string());
    spdlog::warn("removed {}: left by a checkpoint write that did not complete", e.path().string());
  }
  return removed;
}

void Checkpointer::prune() {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(checkpoints_dir()))
    if (is_step_dir(e.path())) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  const auto latest_dir = latest();
  const int64_t excess = static_cast<int64_t>(dirs.size()) - keep_last_;
  for (int64_t i = 0; i < excess; ++i) {
    const std::string d = dirs[i].string();
    if (d == protected_ || (latest_dir && *latest_dir == d)) continue;
    fs::remove_all(dirs[i]);
  }
}

std::optional<std::string> Checkpointer::latest() const { return read_latest(checkpoints_dir()); }

nlohmann::json Checkpointer::read_state(const std::string& dir, Verify verify) {
  const fs::path state_path = fs::path(dir) / "state.json";
  if (!fs::exists(state_path)) throw std::runtime_error(dir + ": not a checkpoint (no state.json)");
  auto state = nlohmann::json::parse(read_text_file(state_path.string()), nullptr, false);
  if (state.is_discarded() || !state.is_object())
    throw std::runtime_error(state_path.string() + ": malformed JSON");
  if (!state.contains("files") || !state["files"].is_object())
    throw std::runtime_error(state_path.string() + ": missing key \"files\" (the checksums)");
  if (verify == Verify::kAllFiles)
    for (const auto& [name, expected] : state["files"].items())
      verify_checkpoint_file(dir, state, name);
  return state;
}

TrainState Checkpointer::read_train_state(const std::string& dir) {
  return TrainState::from_json(read_state(dir), (fs::path(dir) / "state.json").string());
}

std::string Checkpointer::find(const std::string& run_dir, int64_t step) {
  const fs::path ckpts = fs::path(run_dir) / "checkpoints";
  if (step >= 0) {
    const fs::path d = ckpts / step_dir_name(step);
    if (!fs::is_directory(d))
      throw std::runtime_error(run_dir + ": no checkpoint at step " + std::to_string(step));
    return d.string();
  }
  const auto latest = read_latest(ckpts);
  if (!latest)
    throw std::runtime_error(run_dir + ": no checkpoint (checkpoints/latest is missing)");
  return *latest;
}

}  // namespace crossover
