#include "crossover/util/metrics.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "crossover/util/lines.h"

namespace crossover {

namespace fs = std::filesystem;

MetricsWriter::MetricsWriter(const std::string& path, int64_t keep_up_to_step) : path_(path) {
  if (keep_up_to_step >= 0 && fs::exists(path)) {
    // Rewrite through a temporary file so a crash here cannot lose the history.
    const std::string tmp = path + ".tmp";
    {
      std::ifstream in(path);
      std::ofstream out(tmp, std::ios::trunc);
      int64_t number = 0;
      for (std::string line; read_bounded_line(in, line, path, ++number);) {
        if (line.empty()) continue;
        auto event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (event.is_discarded()) continue;  // a torn last line from a kill
        if (event.contains("step") && event["step"].is_number_integer() &&
            event["step"].get<int64_t>() > keep_up_to_step)
          continue;
        out << line << "\n";
      }
    }
    fs::rename(tmp, path);
  }
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) throw std::runtime_error(path + ": cannot open metrics file for appending");
}

MetricsWriter& MetricsWriter::operator=(MetricsWriter&& other) noexcept {
  if (this != &other) {
    if (file_) std::fclose(file_);
    file_ = other.file_;
    path_ = std::move(other.path_);
    other.file_ = nullptr;
  }
  return *this;
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

void MetricsWriter::write(const nlohmann::json& event) {
  if (!event.contains("kind") || !event["kind"].is_string())
    throw std::logic_error("metrics event without a string \"kind\": " + event.dump());
  if (!file_) return;
  const std::string line = event.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open metrics file");
  std::vector<nlohmann::json> events;
  int64_t line_no = 0;
  for (std::string line; read_bounded_line(in, line, path, line_no + 1);) {
    ++line_no;
    if (line.empty()) continue;
    auto event = nlohmann::json::parse(line, nullptr, false);
    if (event.is_discarded())
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": not a JSON object");
    events.push_back(std::move(event));
  }
  return events;
}

}  // namespace crossover
