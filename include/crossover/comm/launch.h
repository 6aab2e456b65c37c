// Process-group set-up from the environment clusters use to launch PyTorch jobs:
//   torchrun:  RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   SLURM:     SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of SLURM_JOB_NODELIST
//              (MASTER_PORT from the environment, default 29500)
// World size 1 (or no variables) needs no process group unless distributed.process_group is
// "always" (one GPU then runs every collective of ddp and fsdp over NCCL). Otherwise rank 0
// serves a c10d TCPStore and every rank joins a Gloo (CPU) or NCCL (CUDA) process group.
//
// The compute device must be chosen and made current (config/device.h) before this is called:
// NCCL binds its communicator to the current device.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "crossover/comm/comm.h"
#include "crossover/config/config.h"

namespace crossover {

// A collective failed because another rank went away (killed, its node lost, its link cut) or
// stopped answering for distributed.timeout_s. Its message is one line naming the collective and
// the peer; `crossover` exits with kPeerLostExitCode for it, so that a launcher or a script can
// tell "restart me" from crossover's own errors (exit 1) and usage errors (exit 2).
class PeerLostError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// EX_TEMPFAIL of sysexits.h: a temporary failure, worth retrying from the last checkpoint.
inline constexpr int kPeerLostExitCode = 75;

struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "none";  // torchrun | slurm | none
  // torchrun's agent serves its own store at MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True),
  // in the protocol of torchrun's PyTorch, which a LibTorch 1.13 client cannot speak: rank 0
  // then serves crossover's store on store_port() = MASTER_PORT + 1 instead.
  bool agent_store = false;
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: keys of each attempt apart
  int store_port() const { return agent_store ? master_port + 1 : master_port; }
};

// The local address this host uses to reach `host` (an address or a name) over IPv4: what
// Gloo binds to, so that on a cluster node it listens on the interface towards rank 0 rather
// than on what the host name resolves to (often 127.0.1.1). Empty when `host` is unknown or
// unreachable.
std::string local_address_towards(const std::string& host);

// The one line a rank reports when a collective fails: names the collective, this rank, and
// the ranks at the peer address the transport's message names ("[10.0.0.2]:port"), or says
// that no peer answered within the timeout. `rank_addresses[r]` is rank r's address.
std::string describe_lost_peer(int rank, const char* collective, const std::string& transport_error,
                               const std::vector<std::string>& rank_addresses, int64_t timeout_s);

// The version of the nccl.h this build was compiled against ("2.28.9"); empty in a build
// without NCCL. A process group over NCCL refuses to start when LibTorch's NCCL differs.
std::string nccl_header_version();

// Reads the variables above (torchrun's take precedence); errors name the bad variable.
DistEnv read_dist_env();

// The first host of a SLURM node list: "gpu[03-05,9],cpu1" -> "gpu03".
std::string first_slurm_host(const std::string& nodelist);

// A Comm for this process whose collectives take tensors on `device`: LocalComm at world size 1
// (unless distributed.process_group is always), else c10d over Gloo or NCCL
// (distributed.backend; auto = nccl on CUDA, gloo on CPU) with distributed.timeout_s.
std::unique_ptr<Comm> init_distributed(const DistEnv& env, const DistributedConfig& config,
                                       at::Device device);

// A process of a run, set up in the order the pieces need: the launcher's variables read
// (read_dist_env), the log lines marked with the rank, the device chosen from hardware.device
// and LOCAL_RANK and made current, the process group joined (init_distributed) and LibTorch's
// CPU threads set to hardware.threads. `crossover train` and `crossover bench train` start so.
struct LaunchedProcess {
  DistEnv env;
  at::Device device = at::kCPU;
  std::unique_ptr<Comm> comm;
};
LaunchedProcess launch_process(const RunConfig& config);

}  // namespace crossover
