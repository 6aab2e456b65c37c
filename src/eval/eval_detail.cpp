#include "crossover/eval/eval_detail.h"

#include <stdexcept>

namespace crossover {

namespace {

const TaskSuite::Task& task_named(const TaskSuite& suite, const std::string& name) {
  for (const auto& t : suite.tasks())
    if (t.name == name) return t;
  throw std::logic_error("eval_detail: no task named " + name);
}

std::vector<int64_t> labels(const TaskSuite::Task& task) {
  std::vector<int64_t> out;
  out.reserve(task.examples.size());
  for (const auto& ex : task.examples) out.push_back(ex.label);
  return out;
}

}  // namespace

nlohmann::json eval_detail(int64_t step, int64_t tokens, const std::vector<int64_t>& window_index,
                           const ValLoss& val, bool exact, const TaskSuite& suite,
                           const TaskResults& results) {
  nlohmann::json j = {{"step", step},
                      {"tokens", tokens},
                      {"val_windows", window_index},
                      {"val_window_loss", val.window_loss}};
  if (!exact) j["val_window_se"] = val.window_se;
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& [name, m] : results)
    tasks[name] = {{"label", labels(task_named(suite, name))},
                   {"predicted", m.predicted},
                   {"predicted_norm", m.predicted_norm}};
  j["tasks"] = std::move(tasks);
  return j;
}

std::string eval_dump_lines(const ValidationSet& windows, int64_t seq_len, const ValLoss& val,
                            bool exact, const TaskSuite& suite, const TaskResults& results) {
  std::string out;
  for (size_t i = 0; i < val.window_loss.size(); ++i) {
    nlohmann::json j = {{"kind", "val_window"},
                        {"row", i},
                        {"window", windows.index[i]},
                        {"start", windows.start(static_cast<int64_t>(i), seq_len)},
                        {"loss", val.window_loss[i]}};
    if (!exact) j["se"] = val.window_se[i];
    out += j.dump() + "\n";
  }
  for (const auto& [name, m] : results) {
    const auto label = labels(task_named(suite, name));
    for (size_t i = 0; i < m.predicted.size(); ++i)
      out += nlohmann::json({{"kind", "task_example"},
                             {"task", name},
                             {"example", i},
                             {"label", label[i]},
                             {"predicted", m.predicted[i]},
                             {"predicted_norm", m.predicted_norm[i]},
                             {"correct", m.predicted[i] == label[i]}})
                 .dump() +
             "\n";
  }
  return out;
}

}  // namespace crossover
