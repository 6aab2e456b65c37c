// Pieces of the error messages that the run-config and sweep-file loaders share: what a YAML
// value looks like ("a mapping", "\"fast\"") and the closest known key to a misspelt one.
#pragma once

#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace crossover {

// "nothing", "a mapping", "a list" or the scalar in quotes.
std::string describe_yaml(const YAML::Node& n);

// The known key within max_distance edits of key (the closest, first on ties), else "".
std::string closest_key(const std::string& key, const std::vector<std::string>& known,
                        size_t max_distance);

}  // namespace crossover
