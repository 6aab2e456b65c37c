// The sweep scheduler: N worker threads take points from one queue and call the launcher; the
// calling thread prints progress from the running points' metrics.jsonl until all are done.
#include "crossover/sweep/runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "crossover/sweep/run_state.h"
#include "crossover/util/progress.h"
#include "crossover/util/run_lock.h"
#include "crossover/util/threads.h"

namespace crossover {

namespace {

using Clock = std::chrono::steady_clock;

std::string progress_line(const ManifestPoint& p, const RunState& s, Clock::time_point since) {
  const int64_t total = s.total_steps > 0 ? s.total_steps : p.steps;
  std::string line = p.name + ": step " + std::to_string(s.step) + "/" + std::to_string(total);
  if (total > 0) line += fmt::format(" ({:.1f}%)", 100.0 * static_cast<double>(s.step) / total);
  line += fmt::format(", epoch {:.2f}", s.epoch);
  if (std::isfinite(s.last_loss)) line += fmt::format(", loss {:.4f}", s.last_loss);
  return line + ", running " + human_duration(seconds_since(since));
}

// Who holds a point's run directory. A probe that fails (permissions, say) is left to the
// trainer's own lock, which is the authority: nullopt.
std::optional<RunLockHolder> lock_holder(const std::string& run_dir) {
  try {
    return RunLock::holder(run_dir);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

RunnerResult run_sweep(const Manifest& manifest, const RunnerOptions& o, const Launcher& launcher) {
  const auto print = o.print ? o.print : [](const std::string& line) { spdlog::info("{}", line); };
  std::set<std::string> names;
  for (const auto& p : manifest.points) names.insert(p.name);
  for (const auto& n : o.only)
    if (!names.count(n))
      throw std::runtime_error(manifest.dir + ": no point named " + n + " in the manifest");

  RunnerResult result;
  std::vector<const ManifestPoint*> to_run;
  for (const auto& p : manifest.points) {
    if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), p.name) == o.only.end())
      continue;
    if (read_run_state(p.run_dir).status == RunStatus::finished) {
      result.already_finished.push_back(p.name);
      continue;
    }
    to_run.push_back(&p);
  }
  const int parallel = std::max(1, std::min<int>(o.parallel, std::max<size_t>(to_run.size(), 1)));
  const int auto_threads = std::max(1, available_cores() / parallel);
  print(fmt::format("sweep: {} points, {} finished already, {} to run, {} at a time",
                    result.already_finished.size() + to_run.size(), result.already_finished.size(),
                    to_run.size(), parallel));

  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0;
  int active_workers = parallel;
  std::map<const ManifestPoint*, Clock::time_point> running;
  auto stopping = [&] { return o.stop && o.stop->load(); };

  auto worker = [&] {
    for (;;) {
      const ManifestPoint* p = nullptr;
      size_t ordinal = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next >= to_run.size() || stopping()) break;
        ordinal = ++next;
        p = to_run[ordinal - 1];
        running[p] = Clock::now();
      }
      const std::string tag = fmt::format("sweep: [{}/{}] {}", ordinal, to_run.size(), p->name);
      // A point another trainer holds (another sweep run, a SLURM job, a terminal) is left to
      // it: starting one here would only be refused by the trainer's lock.
      if (const auto holder = lock_holder(p->run_dir)) {
        std::lock_guard<std::mutex> lock(mu);
        running.erase(p);
        result.busy.push_back(p->name);
        print(tag + ": skipped, already being trained by " + holder->describe() + " (" +
              RunLock::path(p->run_dir) + ")");
        continue;
      }
      const RunState before = read_run_state(p->run_dir);
      LaunchRequest req;
      req.point = p->name;
      req.config_path = p->config_path;
      req.run_dir = p->run_dir;
      req.workdir = manifest.workdir;
      req.resume = before.status != RunStatus::not_started;
      req.threads = o.threads_per_run > 0 ? o.threads_per_run : (p->threads > 0 ? 0 : auto_threads);
      print(tag +
            (req.resume
                 ? fmt::format(": resuming ({}, step {})", to_string(before.status), before.step)
                 : std::string(": starting")) +
            (req.threads > 0 ? fmt::format(", {} threads", req.threads) : std::string()));
      const auto start = Clock::now();
      int status = 0;
      std::string error;
      try {
        status = launcher(req);
      } catch (const std::exception& e) {
        status = -1;
        error = e.what();
      }
      const RunState after = read_run_state(p->run_dir);
      // Another trainer took the directory between the check above and the start: ours was
      // refused (exit status 1) and the point is in other hands, not failed.
      const auto taken_by = after.status != RunStatus::finished && status != 0
                                ? lock_holder(p->run_dir)
                                : std::nullopt;
      std::lock_guard<std::mutex> lock(mu);
      running.erase(p);
      const std::string took = " after " + human_duration(seconds_since(start));
      if (after.status == RunStatus::finished) {
        result.finished.push_back(p->name);
        print(tag + ": finished" + took +
              (status != 0 ? fmt::format(" (but exited with status {})", status) : ""));
      } else if (taken_by) {
        result.busy.push_back(p->name);
        print(tag + ": refused, already being trained by " + taken_by->describe() + " (" +
              RunLock::path(p->run_dir) + ")");
      } else if (stopping()) {
        result.interrupted.push_back(p->name);
        print(tag + fmt::format(": stopped at step {}{}; it resumes on the next sweep run",
                                after.step, took));
      } else {
        result.failed.push_back(p->name);
        const std::string why = !error.empty() ? error
                                : status != 0
                                    ? fmt::format("exit status {}", status)
                                    : "it exited without a `finished` end event in metrics.jsonl";
        print(tag + ": FAILED (" + why + ")" + took +
              (after.reason.empty() ? "" : "; reason: " + after.reason));
      }
      cv.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu);
    --active_workers;
    cv.notify_all();
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < parallel; ++i) threads.emplace_back(worker);
  {
    std::unique_lock<std::mutex> lock(mu);
    const auto interval = std::chrono::duration<double>(o.progress_every_s);
    while (active_workers > 0) {
      if (o.progress_every_s <= 0) {
        cv.wait(lock, [&] { return active_workers == 0; });
        break;
      }
      if (cv.wait_for(lock, interval, [&] { return active_workers == 0; })) break;
      for (const auto& [p, since] : running)
        print("sweep: " + progress_line(*p, read_run_state(p->run_dir), since));
    }
  }
  for (auto& t : threads) t.join();
  for (size_t i = next; i < to_run.size(); ++i) result.not_started.push_back(to_run[i]->name);
  return result;
}

}  // namespace crossover
