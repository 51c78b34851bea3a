// `faultline simulate` and `faultline layers` on NIR files, end to end through the binary: outputs against
// scripts/nir_reference.py's committed spike trains, the encodings, and one-line errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "engine/npy.h"
#include "engine/spiking/spike_encoding.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::run_faultline;
using testing::test_data;

Tensor read_or_fail(const std::string& path) {
  Result<Tensor> t = read_npy(path);
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? std::move(t).value() : Tensor();
}

TEST(NirCli, SimulateWritesTheReferenceSpikeTrains) {
  const std::string out = testing::temp_dir() + "/spikes.npy";
  const auto result =
      run_faultline("simulate " + test_data("nir/braille_noDelay_noBias_subtract.nir") + " --input " +
                    test_data("nir/braille_input.npy") + " --output " + out + " --reset subtract --record steps");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(
      testing::tensors_near(read_or_fail(test_data("nir/braille_subtract_spikes.npy")), read_or_fail(out), 0, 0));

  const std::string counts = testing::temp_dir() + "/counts.npy";
  const auto cnn =
      run_faultline("simulate " + test_data("nir/cnn_sinabs.nir") + " --input " +
                    test_data("nir/cnn_sinabs_input.npy") + " --output " + counts + " --dt 1 --backend onednn");
  ASSERT_EQ(cnn.exit_code, 0) << cnn.err;
  EXPECT_TRUE(testing::tensors_near(read_or_fail(test_data("nir/cnn_sinabs_counts.npy")), read_or_fail(counts), 0, 0));
}

TEST(NirCli, RateEncodingOfStaticInputs) {
  const std::string dir = testing::temp_dir();
  // Static input [N=2, 12] with probabilities; the CLI's spikes must equal rate_encode's, run as events.
  const Tensor images = testing::random_tensor({2, 12}, 7, 0.0f, 1.0f);
  ASSERT_TRUE(write_npy(dir + "/images.npy", images).is_ok());
  const std::string model = test_data("nir/braille_noDelay_noBias_subtract.nir");
  const auto rate = run_faultline("simulate " + model + " --input " + dir + "/images.npy --output " + dir +
                                  "/rate.npy --encoding rate --steps 30 --seed 5 --record steps");
  ASSERT_EQ(rate.exit_code, 0) << rate.err;
  auto events = rate_encode(images, 30, 5);
  ASSERT_TRUE(events.is_ok());
  ASSERT_TRUE(write_npy(dir + "/events.npy", *events).is_ok());
  const auto replay = run_faultline("simulate " + model + " --input " + dir + "/events.npy --output " + dir +
                                    "/replay.npy --record steps");
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  const Tensor a = read_or_fail(dir + "/rate.npy");
  EXPECT_EQ(a.shape(), (Shape{30, 2, 7}));
  EXPECT_TRUE(testing::tensors_near(read_or_fail(dir + "/replay.npy"), a, 0, 0));
}

TEST(NirCli, LayersListsNeuronParametersAndStates) {
  const auto result = run_faultline("layers " + test_data("nir/lif_norse.nir") + " --csv");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // SpikingJET's site names in the layer column (faults/fault_targets.h "Spiking sites"), NIR's in the name.
  EXPECT_NE(result.out.find("weight,1.threshold,1.v_threshold,LIF,\"[1]\",float32,1"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("weight,1.tau,1.tau,LIF,\"[1]\",float32,1"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("activation,1.potential,1.v,LIF,\"[1]\",float32,1"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("activation,1,1,LIF,\"[1]\",float32,1"), std::string::npos) << result.out;
}

TEST(NirCli, ErrorsAreOneLineAndWriteNothing) {
  const std::string out = testing::temp_dir() + "/never.npy";
  struct Case {
    std::string arguments;
    std::string expected;
  };
  const std::string model = test_data("nir/lif_norse.nir");
  const std::string input = " --input " + test_data("nir/lif_norse_input.npy") + " --output " + out;
  const Case cases[] = {
      {"simulate " + test_data("nir/braille_noDelay_noBias_subtract_subgraph.nir") + input,
       "nested NIRGraph node 'lif1': edge 'input' -> 'lif' names node 'lif'"},
      {"simulate " + model + input + " --reset sideways", "option --reset: 'sideways' is not zero or subtract"},
      {"simulate " + model + input + " --encoding rate", "option --steps is required with --encoding rate"},
      {"simulate " + model + input + " --dt -3", "option --dt: '-3' is not a positive number"},
      {"simulate " + model + " --input " + test_data("nir/braille_input.npy") + " --output " + out,
       "input 'input' must be [T, N, 1]"},
      {"simulate " + test_data("nir/synthetic/delay.nir") + input, "node 'd' (Delay): Delay nodes are not supported"},
  };
  for (const Case& c : cases) {
    const auto result = run_faultline(c.arguments);
    EXPECT_NE(result.exit_code, 0) << c.arguments;
    EXPECT_NE(result.err.find("faultline simulate: "), std::string::npos) << result.err;
    EXPECT_NE(result.err.find(c.expected), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << c.arguments;
  }
}

}  // namespace
}  // namespace faultline
