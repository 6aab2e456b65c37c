#include "crossover/comm/launch.h"

#include <cctype>
#include <cstdlib>
#include <stdexcept>

#include "crossover/config/device.h"
#include "crossover/util/log.h"
#include "crossover/util/threads.h"

namespace crossover {

std::unique_ptr<Comm> make_c10d_comm(const DistEnv& env, CommBackend backend, at::Device device,
                                     int64_t timeout_s);  // c10d_comm.cpp

namespace {
int int_env(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0)
    throw std::runtime_error(std::string("environment variable ") + name +
                             ": expected a non-negative integer, got \"" + v + "\"");
  return static_cast<int>(x);
}
std::string str_env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}
}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  // Hosts are separated by commas outside brackets; each bracket holds a list of suffix ranges
  // ("[03-05,9]"), of which the first host takes the first value.
  std::string host;
  for (size_t i = 0; i < nodelist.size(); ++i) {
    const char c = nodelist[i];
    if (c == ',') break;
    if (c != '[') {
      host += c;
      continue;
    }
    const size_t close = nodelist.find(']', i);
    if (close == std::string::npos)
      throw std::runtime_error("SLURM_JOB_NODELIST: unbalanced [ in " + nodelist);
    const std::string inside = nodelist.substr(i + 1, close - i - 1);
    host += inside.substr(0, inside.find_first_of(",-"));
    i = close;
  }
  return host;
}

DistEnv read_dist_env() {
  DistEnv env;
  if (std::getenv("WORLD_SIZE")) {
    env.source = "torchrun";
    env.world_size = int_env("WORLD_SIZE", 1);
    env.rank = int_env("RANK", 0);
    env.local_rank = int_env("LOCAL_RANK", env.rank);
    env.master_addr = str_env("MASTER_ADDR", "127.0.0.1");
    env.master_port = int_env("MASTER_PORT", 29500);
    env.agent_store = str_env("TORCHELASTIC_USE_AGENT_STORE", "") == "True";
    env.restart_count = int_env("TORCHELASTIC_RESTART_COUNT", 0);
  } else if (std::getenv("SLURM_NTASKS") && std::getenv("SLURM_PROCID")) {
    env.source = "slurm";
    env.world_size = int_env("SLURM_NTASKS", 1);
    env.rank = int_env("SLURM_PROCID", 0);
    env.local_rank = int_env("SLURM_LOCALID", 0);
    const std::string nodes = str_env("SLURM_JOB_NODELIST", str_env("SLURM_NODELIST", ""));
    env.master_addr = str_env("MASTER_ADDR", nodes.empty() ? "127.0.0.1" : first_slurm_host(nodes));
    env.master_port = int_env("MASTER_PORT", 29500);
  }
  if (env.world_size < 1) throw std::runtime_error("WORLD_SIZE must be at least 1");
  if (env.rank >= env.world_size)
    throw std::runtime_error("rank " + std::to_string(env.rank) + " is not below the world size " +
                             std::to_string(env.world_size));
  return env;
}

std::unique_ptr<Comm> init_distributed(const DistEnv& env, const DistributedConfig& config,
                                       at::Device device) {
  if (env.world_size == 1 && config.process_group == ProcessGroupMode::kAuto)
    return make_local_comm(device);
  CommBackend backend = config.backend;
  if (backend == CommBackend::kAuto)
    backend = device.is_cuda() ? CommBackend::kNccl : CommBackend::kGloo;
  if (backend == CommBackend::kNccl && !device.is_cuda())
    throw ConfigError(
        "distributed.backend: nccl needs CUDA tensors; this run is on the CPU (use gloo)");
  if (backend == CommBackend::kGloo && device.is_cuda())
    throw ConfigError("distributed.backend: gloo here takes CPU tensors; this run computes on " +
                      device.str() + " (use nccl or auto)");
  return make_c10d_comm(env, backend, device, config.timeout_s);
}

LaunchedProcess launch_process(const RunConfig& config) {
  LaunchedProcess p;
  p.env = read_dist_env();
  log::set_rank(p.env.rank, p.env.world_size);
  // The GPU first: the process group (NCCL) binds to the current device.
  p.device = resolve_device(config.hardware, p.env.local_rank);
  make_current(p.device);
  p.comm = init_distributed(p.env, config.distributed, p.device);
  configure_threads(static_cast<int>(config.hardware.threads));
  return p;
}

}  // namespace crossover
