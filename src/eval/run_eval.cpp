#include "crossover/eval/run_eval.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/checkpoint/loaded_model.h"
#include "crossover/checkpoint/run_dir.h"
#include "crossover/comm/comm.h"
#include "crossover/data/data_dir.h"
#include "crossover/data/sampler.h"
#include "crossover/data/token_store.h"
#include "crossover/eval/eval_detail.h"
#include "crossover/eval/multiple_choice.h"
#include "crossover/eval/val_loss.h"
#include "crossover/util/fs.h"
#include "crossover/util/progress.h"
#include "crossover/util/threads.h"

namespace crossover {

namespace fs = std::filesystem;

nlohmann::json evaluate_run(const RunEvalOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  LoadOptions lo;
  lo.step = o.step;
  lo.device = parse_optional_choice<DeviceChoice>(o.device, "--device");
  const LoadedModel m = load_model(o.run_dir, lo);
  const RunConfig& c = m.config;
  const int threads = configure_threads(o.threads >= 0 ? o.threads
                                                       : static_cast<int>(c.hardware.threads));
  const bool exact = m.objective->exact_likelihood();
  const int64_t mc_samples = o.mc_samples > 0 ? o.mc_samples : c.eval.mc_samples;
  const int64_t batch_rows = c.training.micro_batch > 0 ? c.training.micro_batch
                                                        : c.training.global_batch;
  spdlog::info("evaluating {} ({}, {} on {}, {} threads)", m.checkpoint_dir,
               to_string(c.objective.type), at::toString(m.dtype), m.device.str(), threads);
  auto comm = make_local_comm();

  // Validation loss on the run's fixed validation windows.
  const std::string val_path = DataDir{c.data.path}.val();
  if (!fs::exists(val_path))
    throw std::runtime_error(val_path +
                             " not found: the validation loss reads the run's data.path (" +
                             c.data.path + "), relative to the directory the run was trained from");
  const TokenStore val = TokenStore::open(val_path);
  const ValidationSet windows = validation_set(val, m.eos_id(), c.data.seq_len,
                                               o.val_sequences >= 0 ? o.val_sequences
                                                                    : c.eval.val_sequences);
  const ValLoss v = validation_loss(*m.model, m.flats, *m.objective, windows.windows, mc_samples,
                                    batch_rows, *comm);
  spdlog::info(
      "val loss {:.4f} (Monte-Carlo se {:.4f}, window-sampling se {:.4f}) on {} of {} windows",
      v.loss, v.se, v.window_sampling_se(), v.sequences, windows.available);

  // Tasks.
  const std::vector<std::string> paths = o.tasks.empty() ? c.eval.tasks : o.tasks;
  std::vector<McTask> tasks;
  for (const auto& p : paths)
    tasks.push_back(read_task(p, o.max_examples >= 0 ? o.max_examples : c.eval.max_task_examples));
  const TaskSuite suite(tasks, *m.tokenizer, m.model->max_seq_len());
  ScoreOptions so;
  so.samples = o.task_samples > 0 ? o.task_samples : c.eval.task_samples;
  so.max_batch_tokens = batch_rows * c.data.seq_len;
  nlohmann::json task_json = nlohmann::json::object();
  TaskResults task_results;
  for (const auto& task : suite.tasks()) {
    const auto t0 = std::chrono::steady_clock::now();
    const McMetrics r = evaluate_multiple_choice(*m.model, m.flats, *m.objective, task.examples, so,
                                                 *comm);
    task_json[task.name] = r.to_json();
    task_results.emplace_back(task.name, r);
    spdlog::info("{}: {} ({:.1f} s)", task.name, r.summary(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  // The axes of the checkpoint, as in metrics.jsonl.
  const TrainState state = Checkpointer::read_train_state(m.checkpoint_dir);
  nlohmann::json report = {
      {"run_dir", o.run_dir},   {"checkpoint", m.checkpoint_dir},       {"step", state.step},
      {"tokens", state.tokens}, {"unique_tokens", state.unique_tokens}, {"epoch", state.epoch},
      {"flops", state.flops}};
  report.update(
      {{"objective", to_string(c.objective.type)},
       {"val_loss", v.loss},
       {"val_loss_se", v.se},
       {"val_ppl", v.ppl},
       {"val_loss_window_se", v.window_sampling_se()},
       {"val_sequences", v.sequences},
       {"val_windows_available", windows.available},
       {"likelihood", exact ? "exact" : "elbo"},
       {"mc_samples", exact ? 1 : mc_samples},
       {"task_samples", exact ? 0 : so.samples},
       {"tasks", task_json},
       {"device", m.device.str()},
       {"dtype", std::string(at::toString(m.dtype))},
       {"seconds",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}});
  const fs::path dir = RunDir{o.run_dir}.eval();
  fs::create_directories(dir);
  const std::string path = (dir / fmt::format("step_{:08d}.json", m.step)).string();
  atomic_write_file(path, report.dump(2) + "\n");
  report["path"] = path;
  if (!o.dump.empty()) {
    atomic_write_file(o.dump,
                      eval_dump_lines(windows, c.data.seq_len, v, exact, suite, task_results));
    report["dump"] = o.dump;
  }
  return report;
}

std::string format_eval_report(const nlohmann::json& r) {
  // An ELBO is a Monte-Carlo estimate of a bound: shown with its standard error.
  const bool mdm = r.value("likelihood", "exact") == "elbo";
  std::string s = fmt::format("{} at step {} ({}", r.at("run_dir").get<std::string>(),
                              r.at("step").get<int64_t>(), r.at("objective").get<std::string>());
  if (r.contains("tokens"))
    s += fmt::format(", {} tokens, epoch {:.2f}", human_count(r.at("tokens").get<double>()),
                     r.value("epoch", 0.0));
  s += ")\n";
  if (mdm)
    s += fmt::format(
        "val loss  {:.4f} ± {:.4f}  (negative ELBO per token, {} sequences x {} samples; "
        "exp = {:.2f})\n",
        r.at("val_loss").get<double>(), r.at("val_loss_se").get<double>(),
        r.at("val_sequences").get<int64_t>(), r.at("mc_samples").get<int64_t>(),
        r.at("val_ppl").get<double>());
  else
    s += fmt::format("val loss  {:.4f}  (ppl {:.2f}, {} sequences)\n",
                     r.at("val_loss").get<double>(), r.at("val_ppl").get<double>(),
                     r.at("val_sequences").get<int64_t>());
  if (r.contains("val_loss_window_se"))
    s += fmt::format("          window-sampling se {:.4f} ({} of the split's {} windows)\n",
                     r.at("val_loss_window_se").get<double>(), r.at("val_sequences").get<int64_t>(),
                     r.value("val_windows_available", r.at("val_sequences").get<int64_t>()));
  const auto& tasks = r.at("tasks");
  if (tasks.empty()) {
    s += "no tasks (--tasks FILE.jsonl ...)\n";
  } else {
    s += fmt::format("\n{:<20} {:>8} {:>7} {:>8} {:>10} {:>10} {:>10}\n", "task", "examples", "acc",
                     "acc_norm", "nll_right", "nll_wrong", "delta_nll");
    for (const auto& [name, t] : tasks.items())
      s += fmt::format("{:<20} {:>8} {:>7.4f} {:>8.4f} {:>10.3f} {:>10.3f} {:>10.3f}\n", name,
                       t.at("examples").get<int64_t>(), t.at("acc").get<double>(),
                       t.at("acc_norm").get<double>(), t.at("nll_right").get<double>(),
                       t.at("nll_wrong").get<double>(), t.at("delta_nll").get<double>());
    if (mdm)
      s += fmt::format("(mdm option NLLs: LLaDA estimator, {} samples per option)\n",
                       r.at("task_samples").get<int64_t>());
  }
  if (r.contains("path")) s += "\nwrote " + r.at("path").get<std::string>() + "\n";
  if (r.contains("dump")) s += "wrote " + r.at("dump").get<std::string>() + "\n";
  return s;
}

}  // namespace crossover
