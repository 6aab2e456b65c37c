#include "crossover/util/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace crossover::log {

namespace {
std::shared_ptr<spdlog::sinks::dist_sink_mt> g_sinks;
std::string g_level = "info";
int g_rank = 0;

void apply_level() {
  auto level = spdlog::level::from_str(g_level);
  if (g_rank != 0 && level < spdlog::level::warn) level = spdlog::level::warn;
  spdlog::set_level(level);
}
}  // namespace

void init(const std::string& level) {
  if (!g_sinks) {
    g_sinks = std::make_shared<spdlog::sinks::dist_sink_mt>();
    g_sinks->add_sink(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    auto logger = std::make_shared<spdlog::logger>("crossover", g_sinks);
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("[%Y-%m-%d %H:%M:%S] [%^%l%$] %v");
  }
  set_level(level);
}

void set_level(const std::string& level) {
  g_level = level;
  apply_level();
}

void add_file(const std::string& path) {
  if (!g_sinks) init();
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  g_sinks->add_sink(file);
}

void set_rank(int rank, int world_size) {
  g_rank = rank;
  if (world_size > 1)
    spdlog::set_pattern("[%Y-%m-%d %H:%M:%S] [%^%l%$] [rank " + std::to_string(rank) + "] %v");
  apply_level();
}

}  // namespace crossover::log
