// Logging: spdlog to the console (and to RUN_DIR/train.log once a run directory exists).
// Ranks other than 0 print warnings and errors only, so a 64-rank job is still readable.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace crossover::log {

// Sets up the console logger; call once at program start.
void init(const std::string& level = "info");
// Changes the verbosity (debug, info, warn, error).
void set_level(const std::string& level);
// Tees every message into `path` (appending), e.g. RUN_DIR/train.log.
void add_file(const std::string& path);
// Prefixes messages with the rank and quiets non-zero ranks' info lines.
void set_rank(int rank, int world_size);

}  // namespace crossover::log
