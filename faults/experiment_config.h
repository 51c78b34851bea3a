// Experiment files: the YAML description of one fault-injection campaign, read and checked in full before
// anything runs.
//
//   model: models/resnet20.onnx        # required; must exist
//   backend: onednn                    # onednn (default) | reference | cuda
//   batch_size: 100                    # >= 1 (default 1)
//   threads: 4                         # >= 0 (default 0: the backend's default)
//   weights: float16                   # float16 | bfloat16 | int8 (default: the model's own dtypes)
//   dataset:                           # required
//     format: npy                      # required: npy | hdf5 | cifar10 | cifar100 | mnist-idx
//     inputs: data/x.npy               # required; must exist (a file, or a folder for cifar*)
//     labels: data/y.npy               # must exist when given
//     limit: 1000                      # >= 1
//     layout: nhwc                     # nchw | nhwc (npy and hdf5)
//     hdf5_images: images              # hdf5 dataset names
//     hdf5_labels: labels
//     preprocess: {scale: 0.00392156, mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010]}
//   faults:                            # required; exactly one of list / generate / error_rate
//     list: faults.csv                 # a fault list; must exist
//     generate:                        # exactly one of count / statistical / exhaustive
//       target: weight                 # weight | activation | input (default weight) | accumulator |
//                                      # product | pe | pattern (kernel-level: faults/kernel_sites.h)
//       array: {rows: 16, cols: 16, dataflow: output-stationary, unit: accumulator}
//                                      # pe only: the PE array (dataflow os | ws; unit accumulator | product)
//       pattern: row                   # pattern only: element | row | column | channel | tile
//       tile: {rows: 4, cols: 4}       # pattern tile only
//       layers: ["layer*"]             # globs (a list or one string; default "*")
//       parameters: weights            # weights (conv/linear weights, default) | all
//       bits: "0-31"                   # parse_bit_spec syntax (default: every bit of each word)
//       model: bitflip                 # a fault model name or a list of them (default bitflip; not ber)
//       multibit_bits: 2               # multibit: bits per fault (>= 2)
//       value: 0.0                     # value: the value written
//       persistence: permanent         # permanent | inference | batch
//       seed: 1                        # default: the top-level seed
//       count: 1000                    # >= 1 random faults, or
//       statistical: {error: 0.01, confidence: 0.99, t: 2.58, p: 0.5, polarities: 2, scope: network}
//                                      # error, confidence, p in (0, 1); scope network | layer | layer-bit
//       exhaustive: true
//     error_rate: {min_exp: -10, max_exp: -6, repetitions: 2, layers: ["fc*"]}
//                                      # ber p = 10^e for e in [min_exp, max_exp] (both <= 0), each
//                                      # `repetitions` (>= 1) times, on the weights of the matched layers
//   output: results/resnet20           # required; the folder need not exist
//   seed: 1                            # >= 0 (default 51195)
//   save_outputs: false                # keep every faulty run's outputs
//   golden_budget_mb: 4096             # >= 0: memory for the golden values of incremental passes, MiB (default
//                                      # 4096); when one batch's values do not fit, passes run on fewer images
//                                      # (a divisor of batch_size) with every value kept, else only the values
//                                      # at a few step boundaries (checkpoints) are kept; 0 runs full passes
//   spiking:                           # spiking models (NIR) only; required for them
//     steps: 25                        # >= 1 time steps (events: the dataset's T, checked when given)
//     encoding: rate                   # rate (Bernoulli, seeded) | direct (the image every step) |
//                                      # events (the dataset is [N, T, ...] spikes already) (default rate)
//     dt: 1.0e-4                       # > 0, every neuron's Euler step (default: the model's, 1e-4)
//     reset: zero                      # zero (to v_reset, NIR) | subtract (snnTorch) (default: the model's)
//     seed: 1                          # >= 0, the rate encoding's seed (default: the top-level seed)
//   spiking_report: false              # spiking.csv for a non-spiking model too (always for a spiking one)
//
// Relative paths (model, dataset.inputs, dataset.labels, faults.list, output) are resolved against the
// folder of the YAML file. Every error is one line "<file>: <key.path>: <what is wrong>" (unknown keys list
// the allowed ones); a YAML syntax error is "<file>: line L, column C: <what yaml-cpp says>".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/op_attrs.h"
#include "engine/session.h"
#include "engine/status.h"
#include "faults/fault_generator.h"
#include "faults/sample_size.h"
#include "frontends/datasets/dataset.h"

namespace faultline {

inline constexpr uint64_t kDefaultExperimentSeed = 51195;  // GeneratorOptions' default (SFIadvancedmodels)

// faults.generate.statistical
struct StatisticalSampling {
  SampleScope scope = SampleScope::kNetwork;
  SampleSizeOptions sample;
};

// faults.generate: the options of faults/fault_generator.h and exactly one of count / statistical /
// exhaustive.
struct FaultGeneration {
  GeneratorOptions options;  // options.seed: generate.seed, else the top-level seed
  std::optional<int64_t> count;
  std::optional<StatisticalSampling> statistical;
  bool exhaustive = false;
};

// faults.error_rate: a bit-error-rate sweep, p = 10^e for every integer e in [min_exp, max_exp].
struct ErrorRateSweep {
  int min_exp = 0;
  int max_exp = 0;
  int repetitions = 1;
  std::vector<std::string> layers = {"*"};
};

// spiking: how a spiking model's campaign simulates the dataset (engine/spiking/spike_encoding.h).
struct SpikingExperiment {
  std::optional<int64_t> steps;  // required unless encoding is events
  std::string encoding = "rate";
  std::optional<float> dt;
  std::optional<ResetMode> reset;
  uint64_t seed = kDefaultExperimentSeed;  // spiking.seed, else the top-level seed
};

struct ExperimentConfig {
  std::string path;   // the YAML file
  std::string model;  // resolved
  SessionOptions session;  // backend, batch (batch_size), threads, weight_dtype (weights)
  DatasetSpec dataset;     // inputs and labels resolved
  struct Faults {
    // Exactly one is set.
    std::optional<std::string> list;  // resolved
    std::optional<FaultGeneration> generate;
    std::optional<ErrorRateSweep> error_rate;
  } faults;
  std::string output;  // resolved
  uint64_t seed = kDefaultExperimentSeed;
  bool save_outputs = false;
  std::optional<size_t> golden_budget_bytes;  // golden_budget_mb (ReplayOptions::golden_budget_bytes)
  std::optional<SpikingExperiment> spiking;
  bool spiking_report = false;
};

// Reads and checks `yaml_path` (see above). Fails on the first problem, with one line naming the key path.
Result<ExperimentConfig> load_experiment(const std::string& yaml_path);

// The same for YAML text; `path` names the file in messages and anchors relative paths. Files the
// experiment names must still exist.
Result<ExperimentConfig> parse_experiment(const std::string& text, const std::string& path);

// A few lines for the run command's header: model and backend, dataset, faults, output.
std::string describe_experiment(const ExperimentConfig& config);

}  // namespace faultline
