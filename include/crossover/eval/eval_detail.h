// What one evaluation scored, item by item, so that two runs can be compared pairwise: the loss
// of every validation window and the prediction on every task example.
//
// Training appends one line per evaluation to RUN_DIR/eval_detail.jsonl (the sweep report
// reads it for its paired errors and tests):
//   {"step", "tokens", "val_windows": [window numbers], "val_window_loss": [...],
//    "val_window_se": [...] (mdm only), "tasks": {NAME: {"label": [...], "predicted": [...],
//    "predicted_norm": [...]}}}
// `crossover eval --dump FILE` writes the same content one item a line:
//   {"kind": "val_window", "row", "window", "start", "loss", "se"}
//   {"kind": "task_example", "task", "example", "label", "predicted", "predicted_norm", "correct"}
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "crossover/data/sampler.h"
#include "crossover/eval/multiple_choice.h"
#include "crossover/eval/val_loss.h"

namespace crossover {

using TaskResults = std::vector<std::pair<std::string, McMetrics>>;

// The eval_detail.jsonl record of one evaluation. `exact`: the objective's losses are exact
// (no per-window Monte-Carlo error is written).
nlohmann::json eval_detail(int64_t step, int64_t tokens, const std::vector<int64_t>& window_index,
                           const ValLoss& val, bool exact, const TaskSuite& suite,
                           const TaskResults& results);

// The same, one JSON line per window and per example (ends with a newline; "" when empty).
std::string eval_dump_lines(const ValidationSet& windows, int64_t seq_len, const ValLoss& val,
                            bool exact, const TaskSuite& suite, const TaskResults& results);

}  // namespace crossover
