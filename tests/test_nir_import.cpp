// The NIR frontend (frontends/nir/nir_import.h) on the real exporters' files in tests/data/nir (Norse, Sinabs,
// snnTorch, NIR's own paper files) and on small malformed files written by scripts/nir_reference.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "faults/fault_targets.h"
#include "frontends/load_model.h"
#include "frontends/nir/nir_file.h"
#include "frontends/nir/nir_import.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::test_data;

Graph import_or_fail(const std::string& relative) {
  Result<Graph> graph = nir::import_nir_file(test_data(relative));
  EXPECT_TRUE(graph.is_ok()) << graph.status().message();
  return graph.is_ok() ? std::move(graph).value() : Graph();
}

std::vector<std::string> names(const Graph& g, const std::vector<ValueId>& ids) {
  std::vector<std::string> out;
  for (ValueId id : ids) out.push_back(g.value(id).name);
  return out;
}

size_t count_op(const Graph& g, OpKind op) {
  return static_cast<size_t>(
      std::count_if(g.nodes().begin(), g.nodes().end(), [&](const Node& n) { return n.op == op; }));
}

std::string link_of(const Graph& g, const std::string& state) {
  for (const StateLink& link : g.state_links)
    if (link.state_input == state) return link.next_value;
  return "";
}

TEST(NirImport, EveryFixtureLoadsThroughLoadModel) {
  for (const char* file : {"nir/lif_norse.nir", "nir/two_lif_neurons.nir", "nir/cnn_sinabs.nir",
                           "nir/braille_noDelay_noBias_subtract.nir", "nir/synthetic/gzip_recurrent.nir"}) {
    auto model = load_model(test_data(file));
    ASSERT_TRUE(model.is_ok()) << file << ": " << model.status().message();
    // Every fixture also specializes and lists its fault targets (the graph is well formed for the engine).
    auto targets = list_fault_targets(**model);
    ASSERT_TRUE(targets.is_ok()) << file << ": " << targets.status().message();
    EXPECT_FALSE(targets->empty()) << file;
  }
}

TEST(NirImport, LifNorseIsAffineLifWithStateLink) {
  const Graph g = import_or_fail("nir/lif_norse.nir");
  EXPECT_EQ(names(g, g.inputs()), (std::vector<std::string>{"input", "1.v@prev"}));
  EXPECT_EQ(names(g, g.outputs()), (std::vector<std::string>{"output", "1.v"}));
  EXPECT_EQ(link_of(g, "1.v@prev"), "1.v");
  EXPECT_EQ(count_op(g, OpKind::kGemm), 1u);
  ASSERT_EQ(count_op(g, OpKind::kLIF), 1u);
  // The NIR fields are parameters named <node>.<field>, in float32; the missing v_reset is NIR's default 0.
  for (const char* field : {"1.tau", "1.r", "1.v_leak", "1.v_threshold", "1.v_reset", "0.weight", "0.bias"}) {
    auto id = g.find_value(field);
    ASSERT_TRUE(id) << field;
    EXPECT_TRUE(g.value(*id).is_parameter) << field;
    EXPECT_EQ(g.value(*id).constant.dtype(), DType::kFloat32) << field;
  }
  EXPECT_EQ(g.value(*g.find_value("1.tau")).constant.data<float>()[0], 0.0025f);
  EXPECT_EQ(g.value(*g.find_value("1.v_threshold")).constant.data<float>()[0], 0.1f);
  EXPECT_EQ(g.value(*g.find_value("1.v_reset")).constant.data<float>()[0], 0.0f);
  EXPECT_EQ(g.value(*g.find_value("input")).shape, (Shape{kDynamicDim, 1}));
}

TEST(NirImport, Float64ParametersAreRoundedToFloat32) {
  const Graph g = import_or_fail("nir/two_lif_neurons.nir");  // NIR 0.2.0, every parameter float64
  EXPECT_EQ(g.value(*g.find_value("lif1.v_leak")).constant.data<float>()[0], static_cast<float>(1.2));
  EXPECT_EQ(g.value(*g.find_value("lif1.tau")).constant.data<float>()[0], static_cast<float>(0.01));
  EXPECT_EQ(g.value(*g.find_value("lif2.v_threshold")).constant.data<float>()[0], 20.0f);
  EXPECT_EQ(names(g, g.outputs()).front(), "out");
}

TEST(NirImport, CnnSinabsConvolutionsPoolsAndFlatten) {
  const Graph g = import_or_fail("nir/cnn_sinabs.nir");  // edges stored unordered
  EXPECT_EQ(count_op(g, OpKind::kIF), 5u);
  EXPECT_EQ(count_op(g, OpKind::kConv), 5u);  // 3 Conv2d + 2 SumPool2d (depthwise ones)
  EXPECT_EQ(count_op(g, OpKind::kReshape), 1u);
  EXPECT_EQ(count_op(g, OpKind::kGemm), 2u);
  // SumPool2d "4": a depthwise Conv over a ones kernel, not a parameter (no fault target).
  const Node& pool = g.node(*g.find_node("4"));
  const ConvAttrs& attrs = std::get<ConvAttrs>(pool.attrs);
  EXPECT_EQ(attrs.group, 16);
  EXPECT_EQ(attrs.strides, (std::vector<int64_t>{2, 2}));
  EXPECT_FALSE(g.value(pool.inputs[1]).is_parameter);
  // Conv2d "0": stride 2, padding 1 -> 34x34 to 16x16.
  EXPECT_EQ(g.value(*g.find_value("0")).shape, (Shape{kDynamicDim, 16, 16, 16}));
  EXPECT_EQ(g.value(*g.find_value("8")).shape, (Shape{kDynamicDim, 128}));  // Flatten of [8, 4, 4]
  EXPECT_EQ(g.state_links.size(), 5u);
}

TEST(NirImport, BrailleRecurrentEdgeBecomesAOneStepDelay) {
  const Graph g = import_or_fail("nir/braille_noDelay_noBias_subtract.nir");
  // The cycle lif1.lif -> lif1.w_rec -> lif1.lif is closed by the edge into lif1.lif (the depth-first walk from
  // the input reaches lif1.lif first): lif1.lif reads fc1 + lif1.w_rec@prev.
  EXPECT_EQ(link_of(g, "lif1.w_rec@prev"), "lif1.w_rec");
  EXPECT_EQ(link_of(g, "lif1.lif.i@prev"), "lif1.lif.i");
  EXPECT_EQ(link_of(g, "lif1.lif.v@prev"), "lif1.lif.v");
  const Node& sum = g.node(*g.find_node("lif1.lif.sum"));
  EXPECT_EQ(sum.op, OpKind::kAdd);
  EXPECT_EQ(names(g, sum.inputs), (std::vector<std::string>{"fc1", "lif1.w_rec@prev"}));
  EXPECT_EQ(count_op(g, OpKind::kCubaLIF), 2u);
  // No cycle is left for the engine.
  EXPECT_TRUE(g.topological_order().is_ok());
  // Next-state values are graph outputs (so no pass prunes them), after the model's own output.
  const std::vector<std::string> outputs = names(g, g.outputs());
  EXPECT_EQ(outputs.front(), "output");
  for (const StateLink& link : g.state_links)
    EXPECT_NE(std::find(outputs.begin(), outputs.end(), link.next_value), outputs.end()) << link.next_value;
}

TEST(NirImport, NeuronParametersAndStatesAreFaultTargets) {
  auto model = load_model(test_data("nir/braille_noDelay_noBias_subtract.nir"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto targets = list_fault_targets(**model);
  ASSERT_TRUE(targets.is_ok()) << targets.status().message();
  std::set<std::string> weights, activations;
  for (const FaultTarget& t : *targets) (t.kind == TargetKind::kWeight ? weights : activations).insert(t.name);
  for (const char* name : {"lif1.lif.v_threshold", "lif1.lif.tau_mem", "lif1.lif.tau_syn", "lif1.lif.r",
                           "lif1.lif.v_leak", "lif1.lif.v_reset", "lif1.lif.w_in", "fc1.weight", "lif1.w_rec.weight"})
    EXPECT_TRUE(weights.count(name)) << name;
  for (const char* name : {"lif1.lif.v", "lif1.lif.i", "lif1.lif", "lif2.v"})
    EXPECT_TRUE(activations.count(name)) << name;
}

TEST(NirImport, MalformedNestedGraphIsRefusedNamingTheNode) {
  Result<Graph> graph = nir::import_nir_file(test_data("nir/braille_noDelay_noBias_subtract_subgraph.nir"));
  ASSERT_FALSE(graph.is_ok());
  const std::string& message = graph.status().message();
  EXPECT_NE(message.find("braille_noDelay_noBias_subtract_subgraph.nir"), std::string::npos) << message;
  EXPECT_NE(message.find("nested NIRGraph node 'lif1'"), std::string::npos) << message;
  EXPECT_NE(message.find("names node 'lif', which this graph does not have"), std::string::npos) << message;
}

TEST(NirImport, NestedGraphsAreReadAsTrees) {
  auto root = nir::read_nir_file(test_data("nir/braille_noDelay_noBias_subtract_subgraph.nir"));
  ASSERT_TRUE(root.is_ok()) << root.status().message();
  auto it =
      std::find_if(root->nodes.begin(), root->nodes.end(), [](const nir::NirNode& n) { return n.name == "lif1"; });
  ASSERT_NE(it, root->nodes.end());
  EXPECT_EQ(it->type, "NIRGraph");
  EXPECT_EQ(it->nodes.size(), 4u);
  EXPECT_EQ(it->edges.size(), 4u);
  EXPECT_EQ(root->edges.size(), 5u);
}

TEST(NirImport, BadFilesGiveOneClearErrorNamingTheNode) {
  struct Case {
    const char* file;
    StatusCode code;
    const char* expected;
  };
  const Case cases[] = {
      {"nir/synthetic/delay.nir", StatusCode::kUnsupported, "node 'd' (Delay): Delay nodes are not supported"},
      {"nir/synthetic/unknown_type.nir", StatusCode::kUnsupported,
       "node 'mystery' (Izhikevich): node type 'Izhikevich' is not supported"},
      {"nir/synthetic/missing_field.nir", StatusCode::kInvalidArgument, "node 'lif' (LIF): missing field 'tau'"},
      {"nir/synthetic/bad_edge.nir", StatusCode::kInvalidArgument, "edge 'ghost' -> 'output' names node 'ghost'"},
      {"nir/synthetic/shape_mismatch.nir", StatusCode::kInvalidArgument,
       "node 'fc' (Affine): weight [3, 5] expects a flat input of 5 features, its input has shape [4]"},
  };
  for (const Case& c : cases) {
    Result<Graph> graph = nir::import_nir_file(test_data(c.file));
    ASSERT_FALSE(graph.is_ok()) << c.file;
    EXPECT_EQ(graph.status().code(), c.code) << c.file << ": " << graph.status().message();
    EXPECT_NE(graph.status().message().find(c.expected), std::string::npos) << graph.status().message();
    EXPECT_NE(graph.status().message().find(test_data(c.file)), std::string::npos) << graph.status().message();
  }
  Result<Graph> missing = nir::import_nir_file(test_data("nir/no_such_file.nir"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  Result<Graph> not_hdf5 = nir::import_nir_file(test_data("nir/lif_norse_input.npy"));
  EXPECT_NE(not_hdf5.status().message().find("not an HDF5 file"), std::string::npos) << not_hdf5.status().message();
}

}  // namespace
}  // namespace faultline
