// Comm over LibTorch's c10d: a TCPStore for rendezvous and a Gloo or NCCL process group.
// NCCL has reduce-scatter and flat all-gather natively; LibTorch 1.13's Gloo has neither, so
// there they are composed from all-reduce (then keep this rank's slice) and list all-gather into
// views of the flat output.
#include <ATen/ATen.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#if defined(CROSSOVER_WITH_CUDA) && defined(USE_C10D_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define CROSSOVER_HAVE_NCCL 1
#endif

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

#include "crossover/comm/launch.h"

namespace crossover {

namespace {

using WorkPtr = c10::intrusive_ptr<c10d::Work>;

#ifdef CROSSOVER_HAVE_NCCL
// ProcessGroupNCCL::Options embeds an ncclConfig_t whose size depends on the nccl.h it was
// compiled with: crossover's inline Options code and libtorch_cuda.so must agree on it, or
// making the process group corrupts the heap. The NCCL that LibTorch loads reports its version.
void check_nccl_matches_libtorch() {
  const auto [major, minor, patch] = c10d::getNcclVersionTuple();
  if (major != NCCL_MAJOR || minor != NCCL_MINOR || patch != NCCL_PATCH)
    throw std::runtime_error(
        "distributed.backend nccl: crossover was compiled against nccl.h " + nccl_header_version() +
        " but LibTorch runs NCCL " + std::to_string(major) + "." + std::to_string(minor) + "." +
        std::to_string(patch) +
        "; rebuild crossover against the NCCL headers of this PyTorch (its nvidia-nccl package)");
}
#endif

class C10dComm final : public Comm {
 public:
  C10dComm(const DistEnv& env, CommBackend backend, at::Device device, int64_t timeout_s)
      : rank_(env.rank), world_(env.world_size), backend_(to_string(backend)), device_(device),
        timeout_s_(timeout_s) {
    if ((backend == CommBackend::kNccl) != device.is_cuda())
      throw std::invalid_argument("process group: backend " + backend_ + " cannot run on " +
                                  device.str() + " (nccl takes CUDA tensors, gloo CPU tensors)");
    const auto timeout = std::chrono::milliseconds(timeout_s * 1000);
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.store_port());
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<size_t>(env.world_size);
    so.waitWorkers = true;
    so.timeout = timeout;
    try {
      auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      // Each torchrun attempt apart: a rank restarted late never reads an earlier attempt's keys.
      store_ = c10::make_intrusive<c10d::PrefixStore>(
          "crossover/attempt" + std::to_string(env.restart_count), tcp);
    } catch (const std::exception& e) {
      throw std::runtime_error("rank " + std::to_string(rank_) + ": cannot join the TCPStore at " +
                               env.master_addr + ":" + std::to_string(env.store_port()) +
                               " within " + std::to_string(timeout_s) +
                               " s: " + first_line(e.what()));
    }
    const std::string my_address = own_address(env);
    if (backend == CommBackend::kGloo) {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      opts->devices.push_back(gloo_device(env, my_address));
      opts->threads = 2;
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, rank_, world_, opts);
    } else {
#ifdef CROSSOVER_HAVE_NCCL
      check_nccl_matches_libtorch();
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, rank_, world_, opts);
#else
      throw std::runtime_error("distributed.backend nccl: this build has no NCCL (build with "
                               "-DCROSSOVER_CUDA=ON against a CUDA LibTorch)");
#endif
    }
    publish_addresses(my_address);
    spdlog::info("process group: {} ranks over {} on {} (rendezvous {}:{}, this rank at {})",
                 world_, backend_, device_.str(), env.master_addr, env.store_port(), my_address);
  }

  ~C10dComm() override = default;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string backend() const override { return backend_; }
  at::Device device() const override { return device_; }
  using Comm::all_reduce_sum;

  void all_reduce_sum(at::Tensor& t) override { all_reduce_sum_async(t)->wait(); }

  // NCCL runs the all-reduce on its own stream, after the work queued so far on the current
  // stream; Work::wait() then makes the current stream wait for it (the host goes on). Gloo runs
  // it on its threads; Work::wait() blocks until it is done.
  std::unique_ptr<Pending> all_reduce_sum_async(at::Tensor& t) override {
    struct Handle final : Pending {
      C10dComm* self;
      WorkPtr work;
      at::Tensor wide, t;  // Gloo and bf16: the fp32 sum, rounded back into t at wait()
      void wait() override {
        self->wait(work, "all_reduce");
        if (wide.defined()) t.copy_(wide);
      }
    };
    check(t, "all_reduce");
    auto h = std::make_unique<Handle>();
    h->self = this;
    std::vector<at::Tensor> ts{t};
    if (widened_on_gloo(t)) {
      h->wide = t.to(at::kFloat);
      h->t = t;
      ts = {h->wide};
    }
    h->work = call([&](auto& pg) { return pg->allreduce(ts); });
    return h;
  }

  void all_gather(const at::Tensor& shard, at::Tensor& full) override {
    all_gather_async(shard, full)->wait();
  }

  std::unique_ptr<Pending> all_gather_async(const at::Tensor& shard, at::Tensor& full) override {
    struct Handle final : Pending {
      C10dComm* self;
      WorkPtr work;
      void wait() override { self->wait(work, "all_gather"); }
    };
    check(shard, "all_gather");
    check(full, "all_gather");
    auto h = std::make_unique<Handle>();
    h->self = this;
#ifdef CROSSOVER_HAVE_NCCL
    if (nccl_) {
      at::Tensor in = shard;
      h->work = nccl_->_allgather_base(full, in);
      return h;
    }
#endif
    const int64_t n = shard.numel();
    std::vector<at::Tensor> outputs;
    for (int r = 0; r < world_; ++r) outputs.push_back(full.narrow(0, r * n, n));
    std::vector<std::vector<at::Tensor>> out{outputs};
    std::vector<at::Tensor> in{shard};
    h->work = gloo()->allgather(out, in);
    return h;
  }

  void reduce_scatter_sum(const at::Tensor& full, at::Tensor& shard) override {
    reduce_scatter_sum_async(full, shard)->wait();
  }

  std::unique_ptr<Pending> reduce_scatter_sum_async(const at::Tensor& full,
                                                    at::Tensor& shard) override {
    // Gloo: an all-reduce of a copy, whose slice for this rank lands in `shard` at wait().
    struct Handle final : Pending {
      C10dComm* self;
      WorkPtr work;
      at::Tensor sum, shard;
      void wait() override {
        self->wait(work, "reduce_scatter");
        if (sum.defined()) shard.copy_(sum.narrow(0, self->rank_ * shard.numel(), shard.numel()));
      }
    };
    check(full, "reduce_scatter");
    check(shard, "reduce_scatter");
    auto h = std::make_unique<Handle>();
    h->self = this;
#ifdef CROSSOVER_HAVE_NCCL
    if (nccl_) {
      at::Tensor in = full;
      h->work = nccl_->_reduce_scatter_base(shard, in);
      return h;
    }
#endif
    h->sum = widened_on_gloo(full) ? full.to(at::kFloat) : full.clone();
    h->shard = shard;
    std::vector<at::Tensor> ts{h->sum};
    h->work = gloo()->allreduce(ts);
    return h;
  }

  void broadcast(at::Tensor& t, int root) override {
    check(t, "broadcast");
    std::vector<at::Tensor> ts{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    wait(call([&](auto& pg) { return pg->broadcast(ts, o); }), "broadcast");
  }

  void barrier() override {
    wait(call([&](auto& pg) { return pg->barrier(); }), "barrier");
  }

 private:
  template <class F>
  WorkPtr call(F&& f) {
#ifdef CROSSOVER_HAVE_NCCL
    if (nccl_) return f(nccl_);
#endif
    return f(pg_);
  }
  c10::intrusive_ptr<c10d::ProcessGroupGloo>& gloo() { return pg_; }
  // LibTorch 1.13's Gloo sums no bf16 ("Invalid scalar type"): there bf16 contributions (already
  // rounded by the caller) are summed in fp32 and the sum rounded back, on every LibTorch, so that
  // a CPU run means the same on both builds. NCCL sums bf16 natively.
  bool widened_on_gloo(const at::Tensor& t) const {
    return pg_ && t.scalar_type() == at::kBFloat16;
  }

  void wait(const WorkPtr& work, const char* what) {
    try {
      work->wait();
    } catch (const std::exception& e) {
      const std::string first = first_line(e.what());
      const std::string line = describe_lost_peer(rank_, what, first, addresses_, timeout_s_);
      // What this rank saw may be a survivor that already gave up (rank 1 exits on losing node
      // 1; rank 0 then sees rank 1 go): the first report in the store names the original loss.
      const std::string mine = line.substr(0, line.size() - first.size() - 3);
      const std::string earlier = first_report(mine);
      if (earlier.empty() || earlier == mine) throw PeerLostError(line);
      throw PeerLostError(line + "; first reported: " + earlier);
    }
  }

  // Sets the run's first failure report unless one is there and returns the one there; empty if
  // the store (on rank 0) does not answer within 2 s: its node may be gone or cut off. The store
  // call runs on a thread left behind then, so a dead store never holds up the exit.
  std::string first_report(const std::string& mine) {
    auto result = std::make_shared<std::promise<std::string>>();
    std::thread([store = store_, mine, result] {
      try {
        const auto v = store->compareSet("first_loss", {},
                                         std::vector<uint8_t>(mine.begin(), mine.end()));
        result->set_value(std::string(v.begin(), v.end()));
      } catch (...) {
        result->set_value("");
      }
    }).detach();
    auto f = result->get_future();
    if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return "";
    return f.get();
  }

  // Every rank's address, so that a failure names the ranks behind a broken connection.
  void publish_addresses(const std::string& mine) {
    const auto bytes = [](const std::string& s) {
      return std::vector<uint8_t>(s.begin(), s.end());
    };
    store_->set("address/" + std::to_string(rank_), bytes(mine));
    for (int r = 0; r < world_; ++r) {
      const auto a = store_->get("address/" + std::to_string(r));
      addresses_.emplace_back(a.begin(), a.end());
    }
  }

  // NCCL reads CUDA memory of its own device only, and Gloo here is given host memory: a tensor
  // elsewhere is a bug in the caller, reported before it turns into a crash or a hang.
  void check(const at::Tensor& t, const char* what) const {
    if (t.device() == device_) return;
    throw std::invalid_argument("rank " + std::to_string(rank_) + ": collective " + what +
                                " got a tensor on " + t.device().str() + ", but this " + backend_ +
                                " process group takes tensors on " + device_.str());
  }

  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
  // Single-node jobs talk over loopback. Across hosts a rank listens on the address its host
  // reaches rank 0 from: the host name often resolves to 127.0.1.1, where no other node can
  // connect. GLOO_SOCKET_IFNAME picks an interface instead, as in PyTorch.
  static std::string own_address(const DistEnv& env) {
    if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost") return "127.0.0.1";
    return local_address_towards(env.master_addr);  // empty: no IPv4 route (IPv6 only)
  }
  static std::shared_ptr<::gloo::transport::Device> gloo_device(const DistEnv& env,
                                                                const std::string& address) {
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
      return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
    if (address.empty()) return c10d::ProcessGroupGloo::createDefaultDevice();
    return c10d::ProcessGroupGloo::createDeviceForHostname(address);
  }

  int rank_, world_;
  std::string backend_;
  at::Device device_;
  int64_t timeout_s_;
  std::vector<std::string> addresses_;  // rank r's address, as the other ranks see it
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
#ifdef CROSSOVER_HAVE_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
};

}  // namespace

std::string nccl_header_version() {
#ifdef CROSSOVER_HAVE_NCCL
  return std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." +
         std::to_string(NCCL_PATCH);
#else
  return "";
#endif
}

std::unique_ptr<Comm> make_c10d_comm(const DistEnv& env, CommBackend backend, at::Device device,
                                     int64_t timeout_s) {
  return std::make_unique<C10dComm>(env, backend, device, timeout_s);
}

}  // namespace crossover
