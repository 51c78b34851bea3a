// Helpers shared by the benchmark programs: finding a bundled model and making a batch of random images.
// Header-only (the benchmarks' CMakeLists makes one program per bench_*.cpp; this file is not one).
//
// find_bundled_model(file, env): the path in $env when that variable is set (env may be null), else the first
// of tests/data/models/<file> and ../tests/data/models/<file> that exists (a run from the repository root or
// from the build folder), else tests/data/models/<file> (whose load then fails with a message naming it).
//
// random_images(input, images): a float32 tensor of the graph input's shape with every dynamic dimension set
// to `images`, filled with N(0, 1) draws from std::mt19937 seeded with 1, so every program and run gets the
// same images (the work done does not depend on their values).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "engine/graph.h"
#include "engine/tensor.h"

namespace faultline::bench {

inline std::string find_bundled_model(const std::string& file, const char* env = nullptr) {
  if (env != nullptr)
    if (const char* path = std::getenv(env)) return path;
  for (const std::string folder : {"tests/data/models/", "../tests/data/models/"})
    if (std::filesystem::exists(folder + file)) return folder + file;
  return "tests/data/models/" + file;
}

inline Tensor random_images(const Value& input, int64_t images) {
  Shape shape = input.shape;
  for (int64_t& d : shape)
    if (d == kDynamicDim) d = images;
  Tensor t = Tensor::allocate(DType::kFloat32, shape).value();
  std::mt19937 generator(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(generator);
  return t;
}

}  // namespace faultline::bench
