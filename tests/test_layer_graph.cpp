// The layer graph CMake enforces (CMakeLists.txt, crossover_layer(... USES ...)) is the one the
// code has and the one README draws: every layer uses exactly the layers it includes headers of,
// and README's map lists the same edges.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "test_util.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using Graph = std::map<std::string, std::set<std::string>>;

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> words(const std::string& s) {
  std::set<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

// crossover_layer(NAME [USES A B ...]) calls, which may span lines.
Graph declared_graph(const fs::path& root) {
  const std::string text = read_all(root / "CMakeLists.txt");
  const std::regex call(R"(\ncrossover_layer\((\w+)([^)]*)\))");
  Graph g;
  for (std::sregex_iterator it(text.begin(), text.end(), call), end; it != end; ++it) {
    std::set<std::string> args = words((*it)[2].str());
    args.erase("USES");
    g[(*it)[1].str()] = args;
  }
  return g;
}

// The layers whose headers a layer's sources and headers include.
Graph included_graph(const fs::path& root, const Graph& layers) {
  const std::regex include(R"(#include\s+"crossover/(\w+)/)");
  Graph g;
  for (const auto& [layer, unused] : layers) {
    g[layer];
    for (const fs::path dir : {root / "src" / layer, root / "include" / "crossover" / layer}) {
      if (!fs::exists(dir)) continue;
      for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        const std::string text = read_all(e.path());
        for (std::sregex_iterator it(text.begin(), text.end(), include), end; it != end; ++it)
          if ((*it)[1].str() != layer) g[layer].insert((*it)[1].str());
      }
    }
  }
  return g;
}

// README's map: the lines of the block after "layer        uses" until the closing fence.
Graph readme_graph(const fs::path& root) {
  std::ifstream in(root / "README.md");
  Graph g;
  bool in_map = false;
  for (std::string line; std::getline(in, line);) {
    if (!in_map) {
      in_map = line.rfind("layer ", 0) == 0 && line.find("uses") != std::string::npos;
      continue;
    }
    if (line.rfind("```", 0) == 0) break;
    std::istringstream ls(line);
    std::string layer, w;
    ls >> layer;
    if (layer.empty()) continue;
    auto& uses = g[layer];
    while (ls >> w && w != "#")
      if (w != "-") uses.insert(w);
  }
  return g;
}

std::string show(const Graph& g) {
  std::string s;
  for (const auto& [layer, uses] : g) {
    s += "  " + layer + ":";
    for (const auto& u : uses) s += " " + u;
    s += "\n";
  }
  return s;
}

TEST(LayerGraph, EveryLayerUsesExactlyTheLayersItIncludes) {
  const fs::path root = testing::source_dir();
  const Graph declared = declared_graph(root);
  ASSERT_GE(declared.size(), 15u) << "no crossover_layer() calls found in CMakeLists.txt";
  EXPECT_EQ(declared, included_graph(root, declared)) << "declared in CMakeLists.txt:\n"
                                                      << show(declared) << "included:\n"
                                                      << show(included_graph(root, declared));
}

TEST(LayerGraph, ReadmeDrawsTheDeclaredGraph) {
  const fs::path root = testing::source_dir();
  const Graph declared = declared_graph(root);
  EXPECT_EQ(readme_graph(root), declared) << "README.md's map:\n"
                                          << show(readme_graph(root)) << "CMakeLists.txt:\n"
                                          << show(declared);
}

}  // namespace
}  // namespace crossover
