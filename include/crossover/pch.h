// Precompiled header: the expensive, stable includes shared by most translation units.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
