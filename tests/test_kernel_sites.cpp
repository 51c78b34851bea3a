// Kernel-level fault sites (issue #8; faults/kernel_sites.h): the fault-list columns (Mac, Array, Dataflow, Unit,
// Pattern), their resolution against the real ResNet20's Conv / Gemm layers, generated fault spaces (PEs, rows,
// tiles, accumulator MACs), the experiment YAML keys (array, pattern, tile), the pes.csv / patterns.csv reports,
// and `faultline layers --kind kernel`. Every expectation is hand-computed from the model's geometry (CIFAR 32x32
// input, 3x3 convolutions with padding 1, stride 2 at layer2.0 / layer3.0, a 64 -> 10 linear layer) or from the
// documented formats; the execution of these faults is tests/test_kernel_faults.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "faults/campaign_files.h"
#include "faults/csv.h"
#include "faults/experiment_config.h"
#include "faults/fault_generator.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"
#include "faults/kernel_sites.h"
#include "frontends/load_model.h"
#include "tests/support/graph_builder.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;
using testing::read_text;
using testing::run_faultline;
using testing::temp_dir;
using testing::test_data;

const char kResnet20[] = "models/resnet20.onnx";  // BatchNorm folded: 19 Conv + the Gemm 'linear'
const char kResnet20Input[] = "models/resnet20_input.npy";

// ---------------------------------------------------------------------------------------------------------------
// Fault-list columns (no model needed)

std::string parse_error(const std::string& text) {
  auto list = parse_fault_list(text, "faults.csv");
  return list.is_ok() ? "(parsed)" : list.status().message();
}

// `text` fails to parse with "faults.csv:<line>: " followed by a message holding `detail`.
void expect_parse_error(const std::string& text, int line, const std::string& detail) {
  const std::string message = parse_error(text);
  const std::string prefix = "faults.csv:" + std::to_string(line) + ": ";
  EXPECT_EQ(message.rfind(prefix, 0), 0u) << "message: " << message << "\nexpected prefix: " << prefix;
  EXPECT_NE(message.find(detail), std::string::npos) << "message: " << message << "\nmissing: " << detail;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(KernelFaultList, EveryKernelTargetParsesAndWritesBackByteForByte) {
  // The columns in format_fault_list's order, every value in its canonical spelling.
  const std::string text =
      "Injection,Layer,TensorIndex,Bit,Target,Model,Mac,Array,Dataflow,Unit,Pattern\n"
      "0,conv1,\"(3, 5, 7)\",30,accumulator,bitflip,12,,,,\n"
      "1,conv1,\"(3, 5, 7)\",30,accumulator,bitflip,last,,,,\n"
      "2,linear,\"(9,)\",31,accumulator,stuck-at-1,bias,,,,\n"
      "3,conv1,\"(0, 0, 0)\",22,product,bitflip,0,,,,\n"
      "4,conv1,\"(15, 15)\",30,pe,stuck-at-1,,16x16,output-stationary,accumulator,\n"
      "5,conv1,\"(2, 3)\",,pe,zero,,4x8,weight-stationary,product,\n"
      "6,conv1,\"(3, 5, 7)\",30,pattern,bitflip,,,,,element\n"
      "7,conv1,\"(1023,)\",30,pattern,bitflip,,,,,row\n"
      "8,conv1,\"(15,)\",30,pattern,bitflip,,,,,column\n"
      "9,conv1,\"(4,)\",30,pattern,stuck-at-0,,,,,channel\n"
      "10,conv1,\"(1000, 15, 24, 1)\",30,pattern,bitflip,,,,,tile\n"
      "11,conv1,\"(3, 0, 2, 1)\",15,weight,bitflip,,,,,\n"
      "12,conv1,\"(3, 5, 7)\",29,activation,bitflip,,,,,\n";
  auto list = parse_fault_list(text, "faults.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  ASSERT_EQ(list->entries.size(), 13u);
  auto site = [&](size_t i) -> const FaultSite& { return list->entries[i].fault.site; };

  EXPECT_EQ(site(0).target, SiteTarget::kAccumulator);
  EXPECT_EQ(site(0).index, (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(site(0).kernel.mac, 12);
  EXPECT_EQ(site(0).bit, 30);
  EXPECT_EQ(site(1).kernel.mac, kMacLast);
  EXPECT_EQ(site(2).kernel.mac, kMacBias);
  EXPECT_EQ(list->entries[2].fault.model, FaultModel::kStuckAt1);
  EXPECT_EQ(site(3).target, SiteTarget::kProduct);
  EXPECT_EQ(site(3).kernel.mac, 0);

  EXPECT_EQ(site(4).target, SiteTarget::kPe);
  EXPECT_EQ(site(4).index, (std::vector<int64_t>{15, 15}));
  EXPECT_EQ(site(4).kernel.array, (PeArray{16, 16, Dataflow::kOutputStationary, PeUnit::kAccumulator}));
  EXPECT_EQ(site(5).kernel.array, (PeArray{4, 8, Dataflow::kWeightStationary, PeUnit::kProduct}));
  EXPECT_EQ(site(5).bit, kNoBit);
  EXPECT_EQ(list->entries[5].fault.model, FaultModel::kZero);

  const OutputPattern patterns[] = {OutputPattern::kElement, OutputPattern::kRow, OutputPattern::kColumn,
                                    OutputPattern::kChannel, OutputPattern::kTile};
  for (size_t i = 6; i <= 10; ++i) {
    EXPECT_EQ(site(i).target, SiteTarget::kPattern) << i;
    EXPECT_EQ(site(i).kernel.pattern, patterns[i - 6]) << i;
  }
  EXPECT_EQ(site(7).index, (std::vector<int64_t>{1023}));
  EXPECT_EQ(site(10).index, (std::vector<int64_t>{1000, 15, 24, 1}));

  // Sites that are not kernel-level keep the default KernelSite.
  EXPECT_EQ(site(11).target, SiteTarget::kWeight);
  EXPECT_EQ(site(11).kernel, KernelSite{});
  EXPECT_EQ(site(12).target, SiteTarget::kActivation);
  EXPECT_EQ(site(12).kernel, KernelSite{});

  EXPECT_EQ(format_fault_list(*list), text);

  // describe() names the kernel part of the site.
  EXPECT_EQ(describe(list->entries[0].fault), "accumulator conv1 (3, 5, 7) mac 12 bit 30 bitflip");
  EXPECT_EQ(describe(list->entries[5].fault), "pe conv1 (2, 3) of 4x8 weight-stationary product zero");
  EXPECT_EQ(describe(list->entries[7].fault), "pattern conv1 (1023,) row bit 30 bitflip");
}

TEST(KernelFaultList, DefaultsAliasesAndAnyCase) {
  auto list = parse_fault_list(
      "Injection,Layer,TensorIndex,Bit,Target,Mac,Array,Dataflow,Unit,Pattern\n"
      "0,conv1,\"(0, 0, 0)\",30,accumulator,,,,,\n"  // no Mac: the output before the bias
      "1,conv1,\"(1, 2)\",30,pe,,8x4,,,\n"           // output-stationary accumulator
      "2,conv1,\"(1, 2)\",30,pe,,8X4,os,,\n"         // 'X' and the os alias
      "3,conv1,\"(1, 2)\",30,pe,,2x2,ws,product,\n"  // the ws alias
      "4,conv1,\"(1, 2)\",30,PE,,2 x 2,Weight-Stationary,Accumulator,\n"
      "5,conv1,\"(1,)\",30,pattern,,,,,ROW\n"
      "6,conv1,\"(0, 0, 0)\",30,accumulator,LAST,,,,\n"
      "7,conv1,\"(0, 0, 0)\",30,accumulator,Bias,,,,\n",
      "faults.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  auto kernel = [&](size_t i) { return list->entries[i].fault.site.kernel; };
  EXPECT_EQ(kernel(0).mac, kMacLast);
  EXPECT_EQ(kernel(1).array, (PeArray{8, 4, Dataflow::kOutputStationary, PeUnit::kAccumulator}));
  EXPECT_EQ(kernel(2).array, (PeArray{8, 4, Dataflow::kOutputStationary, PeUnit::kAccumulator}));
  EXPECT_EQ(kernel(3).array, (PeArray{2, 2, Dataflow::kWeightStationary, PeUnit::kProduct}));
  EXPECT_EQ(list->entries[4].fault.site.target, SiteTarget::kPe);
  EXPECT_EQ(kernel(4).array, (PeArray{2, 2, Dataflow::kWeightStationary, PeUnit::kAccumulator}));
  EXPECT_EQ(kernel(5).pattern, OutputPattern::kRow);
  EXPECT_EQ(kernel(6).mac, kMacLast);
  EXPECT_EQ(kernel(7).mac, kMacBias);

  // Written back with the defaults spelled out.
  const std::string written = format_fault_list(*list);
  EXPECT_NE(written.find("\n0,conv1,\"(0, 0, 0)\",30,accumulator,last,,,,\n"), std::string::npos) << written;
  EXPECT_NE(written.find("\n1,conv1,\"(1, 2)\",30,pe,,8x4,output-stationary,accumulator,\n"), std::string::npos)
      << written;
  EXPECT_NE(written.find("\n3,conv1,\"(1, 2)\",30,pe,,2x2,weight-stationary,product,\n"), std::string::npos) << written;
  auto again = parse_fault_list(written, "again.csv");
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  for (size_t i = 0; i < list->entries.size(); ++i) EXPECT_EQ(again->entries[i].fault, list->entries[i].fault) << i;

  // A list without the kernel columns gets them only for the rows that need them.
  auto minimal =
      parse_fault_list("Injection,Layer,TensorIndex,Bit,Target\n0,conv1,\"(1, 2, 3)\",30,accumulator\n", "faults.csv");
  ASSERT_TRUE(minimal.is_ok()) << minimal.status().message();
  EXPECT_EQ(format_fault_list(*minimal),
            "Injection,Layer,TensorIndex,Bit,Target,Mac\n0,conv1,\"(1, 2, 3)\",30,accumulator,last\n");
}

TEST(KernelFaultList, MalformedKernelColumnsNameTheLine) {
  const std::string header = "Injection,Layer,TensorIndex,Bit,Target,Mac,Array,Dataflow,Unit,Pattern\n";
  const std::string good = "0,conv1,\"(0, 0, 0)\",30,accumulator,3,,,,\n";  // line 2
  expect_parse_error(header + good + "1,conv1,\"(0, 0, 0)\",30,product,,,,,\n", 3, "a product site needs a Mac");
  expect_parse_error(header + "0,conv1,\"(0, 0, 0)\",30,product,last,,,,\n", 2, "needs a MAC index, not 'last'");
  expect_parse_error(header + good + "1,conv1,\"(0, 0, 0)\",30,accumulator,x,,,,\n", 3, "Mac 'x' is not a MAC index");
  expect_parse_error(header + "0,conv1,\"(0, 0, 0)\",30,accumulator,-1,,,,\n", 2, "Mac '-1' is not a MAC index");
  expect_parse_error(header + good + good + "2,conv1,\"(0, 0)\",30,pe,,,,,\n", 4, "a pe site needs an Array");
  expect_parse_error(header + "0,conv1,\"(0, 0)\",30,pe,,16,,,\n", 2, "Array '16' is not a PE array size");
  expect_parse_error(header + "0,conv1,\"(0, 0)\",30,pe,,0x4,,,\n", 2, "Array '0x4' is not a PE array size");
  expect_parse_error(header + "0,conv1,\"(0, 0)\",30,pe,,4x,,,\n", 2, "Array '4x' is not a PE array size");
  expect_parse_error(header + "0,conv1,\"(0, 0)\",30,pe,,4x4,diagonal,,\n", 2, "Dataflow 'diagonal' is not");
  expect_parse_error(header + "0,conv1,\"(0, 0)\",30,pe,,4x4,,adder,\n", 2, "Unit 'adder' is not");
  expect_parse_error(header + good + "1,conv1,\"(0,)\",30,pattern,,,,,\n", 3, "a pattern site needs a Pattern");
  expect_parse_error(header + "0,conv1,\"(0,)\",30,pattern,,,,,diag\n", 2, "Pattern 'diag' is not");
  // A column the row's target does not read.
  expect_parse_error(header + good + "1,conv1,\"(3, 0, 2, 1)\",15,weight,3,,,,\n", 3, "Mac '3' is given for a weight");
  expect_parse_error(header + "0,conv1,\"(0, 0, 0)\",30,accumulator,,4x4,,,\n", 2,
                     "Array '4x4' is given for an accumulator");
  expect_parse_error(header + "0,conv1,\"(0, 0)\",30,pe,,4x4,,,row\n", 2, "Pattern 'row' is given for a pe");
  expect_parse_error(header + "0,conv1,\"(0,)\",30,pattern,,,os,,row\n", 2, "Dataflow 'os' is given for a pattern");
  expect_parse_error(header + "0,conv1,\"(0, 0, 0)\",30,activation,,,,product,\n", 2,
                     "Unit 'product' is given for an activation");
  expect_parse_error(header + "0,conv1,\"(0, 0, 0)\",30,accumulators?,,,,,\n", 2, "Target 'accumulators?' is not");
}

// ---------------------------------------------------------------------------------------------------------------
// Resolution against the real ResNet20

class KernelSitesResNet20 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto model = load_model(test_data(kResnet20));
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    auto targets = list_fault_targets(**model);
    ASSERT_TRUE(targets.is_ok()) << targets.status().message();
    targets_ = new std::vector<FaultTarget>(std::move(targets).value());
  }
  static void TearDownTestSuite() {
    delete targets_;
    targets_ = nullptr;
  }
  static const std::vector<FaultTarget>& targets() { return *targets_; }

  static const FaultTarget& kernel(const std::string& layer) {
    auto i = find_fault_target(targets(), SiteTarget::kPe, layer);
    EXPECT_TRUE(i.is_ok()) << i.status().message();
    return targets()[i.is_ok() ? *i : 0];
  }

  // The one-row list `row` (under a header with every kernel column) resolved against ResNet20.
  static Result<std::vector<ResolvedFault>> resolve_row(const std::string& row) {
    FL_ASSIGN_OR_RETURN(FaultList list,
                        parse_fault_list("Injection,Layer,TensorIndex,Bit,Target,Model,Value,Mac,Array,Dataflow,Unit,"
                                         "Pattern\n" +
                                             row + "\n",
                                         "faults.csv"));
    return resolve_fault_list(list, targets());
  }
  // resolve_row fails with "faults.csv:2: " and a message holding `detail`.
  static void expect_resolve_error(const std::string& row, const std::string& detail) {
    auto resolved = resolve_row(row);
    ASSERT_FALSE(resolved.is_ok()) << "resolved: " << row;
    const std::string& message = resolved.status().message();
    EXPECT_EQ(message.rfind("faults.csv:2: ", 0), 0u) << message;
    EXPECT_NE(message.find(detail), std::string::npos) << "message: " << message << "\nmissing: " << detail;
  }
  static int64_t element_of(const std::string& row) {
    auto resolved = resolve_row(row);
    EXPECT_TRUE(resolved.is_ok()) << row << ": " << resolved.status().message();
    return resolved.is_ok() && resolved->size() == 1 ? (*resolved)[0].element : -99;
  }

  static std::vector<FaultTarget>* targets_;
};
std::vector<FaultTarget>* KernelSitesResNet20::targets_ = nullptr;

TEST_F(KernelSitesResNet20, KernelTargetsHaveTheHandComputedGemmViews) {
  struct Expected {
    std::string layer;
    std::string op;
    Shape shape;  // per image
    int64_t rows, cols, macs;
  };
  // Conv: rows = OH * OW, cols = output channels, MACs = input channels * 3 * 3. Linear: one row of 10, 64 MACs.
  std::vector<Expected> expected = {{"conv1", "Conv", {16, 32, 32}, 1024, 16, 27}};
  for (int block = 0; block < 3; ++block) {
    for (const char* conv : {"conv1", "conv2"}) {
      const std::string name = "layer1." + std::to_string(block) + "." + conv;
      expected.push_back({name, "Conv", {16, 32, 32}, 1024, 16, 144});
    }
  }
  for (int block = 0; block < 3; ++block) {
    for (const char* conv : {"conv1", "conv2"}) {
      const std::string name = "layer2." + std::to_string(block) + "." + conv;
      const bool first = block == 0 && std::string(conv) == "conv1";  // stride 2, 16 input channels
      expected.push_back({name, "Conv", {32, 16, 16}, 256, 32, first ? 144 : 288});
    }
  }
  for (int block = 0; block < 3; ++block) {
    for (const char* conv : {"conv1", "conv2"}) {
      const std::string name = "layer3." + std::to_string(block) + "." + conv;
      const bool first = block == 0 && std::string(conv) == "conv1";
      expected.push_back({name, "Conv", {64, 8, 8}, 64, 64, first ? 288 : 576});
    }
  }
  expected.push_back({"linear", "Gemm", {10}, 1, 10, 64});

  std::vector<const FaultTarget*> kernels;
  bool seen_kernel = false;
  for (const FaultTarget& t : targets()) {
    if (t.kind == TargetKind::kKernel) {
      kernels.push_back(&t);
      seen_kernel = true;
    } else {
      EXPECT_FALSE(seen_kernel) << "kernel targets come last, " << t.layer << " follows one";
    }
  }
  ASSERT_EQ(kernels.size(), 20u);
  for (size_t i = 0; i < expected.size(); ++i) {
    const FaultTarget& t = *kernels[i];
    const Expected& e = expected[i];
    SCOPED_TRACE(e.layer);
    EXPECT_EQ(t.layer, e.layer);
    EXPECT_EQ(t.op, e.op);
    EXPECT_EQ(t.shape, e.shape);
    EXPECT_EQ(t.elements, numel(e.shape));
    EXPECT_EQ(t.dtype, DType::kFloat32);
    EXPECT_EQ(t.gemm_rows, e.rows);
    EXPECT_EQ(t.gemm_cols, e.cols);
    EXPECT_EQ(t.macs, e.macs);
    EXPECT_EQ(t.gemm_rows * t.gemm_cols, t.elements);
  }
  EXPECT_EQ(kernels[0]->node, "/conv1/Conv");
  EXPECT_EQ(kernels[0]->name, "/conv1/Conv_output_0");
  EXPECT_EQ(kernels[0]->kernel_inputs, (std::vector<std::string>{"input"}));
  EXPECT_EQ(kernels[19]->node, "/linear/Gemm");
}

TEST_F(KernelSitesResNet20, LayersResolveByCanonicalNodeAndValueName) {
  const FaultTarget& by_layer = kernel("layer2.0.conv1");
  EXPECT_EQ(by_layer.kind, TargetKind::kKernel);
  for (SiteTarget kind : {SiteTarget::kAccumulator, SiteTarget::kProduct, SiteTarget::kPe, SiteTarget::kPattern}) {
    SCOPED_TRACE(site_target_name(kind));
    auto a = find_fault_target(targets(), kind, "layer2.0.conv1");
    auto b = find_fault_target(targets(), kind, "/layer2/layer2.0/conv1/Conv");
    auto c = find_fault_target(targets(), kind, "/layer2/layer2.0/conv1/Conv_output_0");
    ASSERT_TRUE(a.is_ok() && b.is_ok() && c.is_ok());
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(*a, *c);
    EXPECT_EQ(targets()[*a].kind, TargetKind::kKernel);
    EXPECT_EQ(targets()[*a].gemm_rows, 256);
  }
  // The same name as a weight or activation site is another target.
  auto weight = find_fault_target(targets(), SiteTarget::kWeight, "layer2.0.conv1");
  ASSERT_TRUE(weight.is_ok());
  EXPECT_EQ(targets()[*weight].kind, TargetKind::kWeight);
  // In a list, too.
  auto resolved = resolve_row("0,/layer2/layer2.0/conv1/Conv,\"(31, 15, 15)\",0,product,,,143,,,,");
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  EXPECT_EQ(&targets()[(*resolved)[0].target], &by_layer);
  EXPECT_EQ((*resolved)[0].element, 31 * 256 + 15 * 16 + 15);
}

TEST_F(KernelSitesResNet20, ElementSitesResolveToTheirOffsetOthersToMinusOne) {
  const int64_t offset = 3 * 1024 + 5 * 32 + 7;  // (3, 5, 7) of [16, 32, 32]
  EXPECT_EQ(element_of("0,conv1,\"(3, 5, 7)\",30,accumulator,,,12,,,,"), offset);
  EXPECT_EQ(element_of("0,conv1,\"(3, 5, 7)\",30,accumulator,,,26,,,,"), offset);
  EXPECT_EQ(element_of("0,conv1,\"(3, 5, 7)\",30,accumulator,,,bias,,,,"), offset);
  EXPECT_EQ(element_of("0,conv1,\"(3, 5, 7)\",30,product,,,0,,,,"), offset);
  EXPECT_EQ(element_of("0,conv1,\"(3, 5, 7)\",30,pattern,,,,,,,element"), offset);
  EXPECT_EQ(element_of("0,conv1," + std::to_string(offset) + ",30,accumulator,,,,,,,"), offset);  // flat index
  EXPECT_EQ(element_of("0,linear,\"(9,)\",31,accumulator,,,63,,,,"), 9);
  EXPECT_EQ(element_of("0,conv1,\"(15, 15)\",30,pe,,,,16x16,,,"), -1);
  EXPECT_EQ(element_of("0,conv1,\"(1023,)\",30,pattern,,,,,,,row"), -1);
  EXPECT_EQ(element_of("0,conv1,\"(15,)\",30,pattern,,,,,,,column"), -1);
  EXPECT_EQ(element_of("0,conv1,\"(15,)\",30,pattern,,,,,,,channel"), -1);
  EXPECT_EQ(element_of("0,conv1,1023,30,pattern,,,,,,,row"), -1);  // a bare integer is the row
  EXPECT_EQ(element_of("0,conv1,15,30,pattern,,,,,,,channel"), -1);
  EXPECT_EQ(element_of("0,conv1,\"(1016, 12, 8, 4)\",30,pattern,,,,,,,tile"), -1);
  EXPECT_EQ(element_of("0,conv1,\"(2, 3)\",,pe,zero,,,4x8,ws,product,"), -1);

  // check_kernel_fault directly.
  Fault fault;
  fault.site.target = SiteTarget::kAccumulator;
  fault.site.layer = "conv1";
  fault.site.index = {3, 5, 7};
  fault.site.bit = 30;
  auto element = check_kernel_fault(fault, kernel("conv1"));
  ASSERT_TRUE(element.is_ok()) << element.status().message();
  EXPECT_EQ(*element, offset);
  fault.site.target = SiteTarget::kPe;
  fault.site.index = {0, 1};
  fault.site.kernel.array = {4, 4, Dataflow::kOutputStationary, PeUnit::kAccumulator};
  element = check_kernel_fault(fault, kernel("conv1"));
  ASSERT_TRUE(element.is_ok()) << element.status().message();
  EXPECT_EQ(*element, -1);
  // A kernel-level fault against a target that is not a kernel.
  auto weight = find_fault_target(targets(), SiteTarget::kWeight, "conv1");
  ASSERT_TRUE(weight.is_ok());
  EXPECT_FALSE(check_kernel_fault(fault, targets()[*weight]).is_ok());
}

TEST_F(KernelSitesResNet20, OutOfRangeSitesNameTheRowAndTheLimit) {
  expect_resolve_error("0,conv1,\"(0, 0, 0)\",30,accumulator,,,27,,,,",
                       "Mac 27 is out of range for 'conv1' (27 MACs per output, 0-26");
  expect_resolve_error("0,conv1,\"(0, 0, 0)\",30,product,,,27,,,,", "Mac 27 is out of range for 'conv1'");
  expect_resolve_error("0,linear,\"(0,)\",30,product,,,64,,,,", "(64 MACs per output, 0-63)");
  expect_resolve_error("0,conv1,\"(16, 0, 0)\",30,accumulator,,,,,,,", "out of range for 'conv1' [16, 32, 32]");
  expect_resolve_error("0,conv1,\"(0, 0)\",30,accumulator,,,,,,,", "has 2 dimensions");
  expect_resolve_error("0,conv1,16384,30,accumulator,,,,,,,", "flat index 16384 is out of range");
  expect_resolve_error("0,conv1,\"(16, 0)\",30,pe,,,,16x16,,,", "PE (16, 0) is outside the 16x16 array");
  expect_resolve_error("0,conv1,\"(0, 8)\",30,pe,,,,16x8,,,", "PE (0, 8) is outside the 16x8 array");
  expect_resolve_error("0,conv1,\"(0, 0, 0)\",30,pe,,,,16x16,,,", "(row, column) of a processing element");
  expect_resolve_error("0,conv1,5,30,pe,,,,16x16,,,", "index 5 of a pe site must be (row, column)");
  expect_resolve_error("0,conv1,1024,30,pattern,,,,,,,row", "row 1024 is outside 'conv1'");
  expect_resolve_error("0,conv1,\"(1024,)\",30,pattern,,,,,,,row", "row 1024 is outside 'conv1' (1024 rows x 16");
  expect_resolve_error("0,conv1,\"(16,)\",30,pattern,,,,,,,channel", "channel 16 is outside 'conv1'");
  expect_resolve_error("0,conv1,\"(1020, 0, 8, 4)\",30,pattern,,,,,,,tile", "tile (1020, 0, 8, 4) is empty or outside");
  expect_resolve_error("0,conv1,\"(0, 0, 0, 4)\",30,pattern,,,,,,,tile", "tile (0, 0, 0, 4) is empty or outside");
  expect_resolve_error("0,conv1,\"(0, 0)\",30,pattern,,,,,,,tile", "(row, column, rows, columns)");
  expect_resolve_error("0,conv1,\"(0, 0, 0)\",32,accumulator,,,,,,,", "bit 32 is out of range for float32");
  // Not a Conv / Gemm / MatMul: a BatchNorm name (folded away in this model) and a Relu layer that exists.
  expect_resolve_error("0,layer1.0.bn1,\"(0, 0)\",30,pe,,,,4x4,,,", "no Conv, Gemm or MatMul layer 'layer1.0.bn1'");
  std::string relu;
  for (const FaultTarget& t : targets())
    if (t.kind == TargetKind::kActivation && t.op == "Relu" && relu.empty()) relu = t.layer;
  ASSERT_FALSE(relu.empty());
  expect_resolve_error("0," + relu + ",\"(0, 0)\",30,pe,,,,4x4,,,",
                       "'" + relu + "' is a Relu, not a Conv, Gemm or MatMul layer for a pe site");
  expect_resolve_error("0,/layer1/layer1.0/Relu,\"(0, 0, 0)\",30,accumulator,,,,,,,",  // by its node name
                       "'/layer1/layer1.0/Relu' is a Relu, not a Conv, Gemm or MatMul layer for an accumulator site");
  // ber is a whole-tensor model, not a word in the arithmetic.
  expect_resolve_error("0,conv1,,,accumulator,ber,0.001,,,,,", "ber is not a kernel-level fault model");
  expect_resolve_error("0,conv1,,,pe,ber,0.001,,4x4,,,", "ber is not a kernel-level fault model");
}

// ---------------------------------------------------------------------------------------------------------------
// Generation

TEST_F(KernelSitesResNet20, ExhaustivePeListCoversEveryPeOncePerBitInPositionOrder) {
  GeneratorOptions options;
  options.target = SiteTarget::kPe;
  options.layers = {"conv1"};
  options.kernel.array = {4, 8, Dataflow::kWeightStationary, PeUnit::kProduct};
  options.bits = "30,31";
  auto list = generate_exhaustive_faults(targets(), options);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  ASSERT_EQ(list->entries.size(), 4u * 8u * 2u);
  for (size_t k = 0; k < list->entries.size(); ++k) {
    const Fault& fault = list->entries[k].fault;
    SCOPED_TRACE(k);
    EXPECT_EQ(list->entries[k].injection, static_cast<int64_t>(k));
    EXPECT_EQ(fault.site.target, SiteTarget::kPe);
    EXPECT_EQ(fault.site.layer, "conv1");
    const int64_t pe = static_cast<int64_t>(k / 2);  // position = (r * 8 + c) * 2 + bit slot
    EXPECT_EQ(fault.site.index, (std::vector<int64_t>{pe / 8, pe % 8}));
    EXPECT_EQ(fault.site.bit, 30 + static_cast<int>(k % 2));
    EXPECT_EQ(fault.site.kernel.array, options.kernel.array);
    EXPECT_EQ(fault.model, FaultModel::kBitFlip);
  }
  auto resolved = resolve_fault_list(*list, targets());
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();

  // Written and read back: the same faults.
  const std::string text = format_fault_list(*list);
  EXPECT_EQ(text.substr(0, text.find('\n')), "Injection,Layer,TensorIndex,Bit,Target,Array,Dataflow,Unit");
  EXPECT_NE(text.find("\n9,conv1,\"(0, 4)\",31,pe,4x8,weight-stationary,product\n"), std::string::npos) << text;
  auto again = parse_fault_list(text, "generated.csv");
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  ASSERT_EQ(again->entries.size(), list->entries.size());
  for (size_t k = 0; k < list->entries.size(); ++k) EXPECT_EQ(again->entries[k].fault, list->entries[k].fault) << k;
  EXPECT_EQ(format_fault_list(*again), text);

  // Every kernel layer: 20 layers of 4 x 8 PEs and 2 bits, in target order.
  options.layers = {"*"};
  auto all = generate_exhaustive_faults(targets(), options);
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  ASSERT_EQ(all->entries.size(), 20u * 4u * 8u * 2u);
  EXPECT_EQ(all->entries.front().fault.site.layer, "conv1");
  EXPECT_EQ(all->entries[64].fault.site.layer, "layer1.0.conv1");
  EXPECT_EQ(all->entries.back().fault.site.layer, "linear");
}

TEST_F(KernelSitesResNet20, ExhaustivePatternRowsAndClippedTiles) {
  GeneratorOptions options;
  options.target = SiteTarget::kPattern;
  options.layers = {"conv1"};
  options.kernel.pattern = OutputPattern::kRow;
  options.bits = "0,31";
  auto rows = generate_exhaustive_faults(targets(), options);
  ASSERT_TRUE(rows.is_ok()) << rows.status().message();
  ASSERT_EQ(rows->entries.size(), 1024u * 2u);
  for (size_t k = 0; k < rows->entries.size(); k += 97) {
    const FaultSite& site = rows->entries[k].fault.site;
    EXPECT_EQ(site.target, SiteTarget::kPattern);
    EXPECT_EQ(site.kernel.pattern, OutputPattern::kRow);
    EXPECT_EQ(site.index, (std::vector<int64_t>{static_cast<int64_t>(k / 2)})) << k;
    EXPECT_EQ(site.bit, k % 2 ? 31 : 0) << k;
  }
  EXPECT_EQ(rows->entries.back().fault.site.index, (std::vector<int64_t>{1023}));

  // Channels of the linear layer: its 10 columns.
  options.layers = {"linear"};
  options.kernel.pattern = OutputPattern::kChannel;
  options.bits = "31";
  auto channels = generate_exhaustive_faults(targets(), options);
  ASSERT_TRUE(channels.is_ok()) << channels.status().message();
  ASSERT_EQ(channels->entries.size(), 10u);
  EXPECT_EQ(channels->entries[9].fault.site.index, (std::vector<int64_t>{9}));

  // Tiles of 100 x 5 over conv1's 1024 x 16 GEMM: ceil(1024 / 100) = 11 by ceil(16 / 5) = 4, clipped at the
  // bottom (24 rows) and right (1 column) edges.
  options.layers = {"conv1"};
  options.kernel.pattern = OutputPattern::kTile;
  options.tile_rows = 100;
  options.tile_cols = 5;
  auto tiles = generate_exhaustive_faults(targets(), options);
  ASSERT_TRUE(tiles.is_ok()) << tiles.status().message();
  ASSERT_EQ(tiles->entries.size(), 11u * 4u);
  int64_t area = 0;
  std::vector<int> covered(1024 * 16, 0);
  for (size_t k = 0; k < tiles->entries.size(); ++k) {
    const std::vector<int64_t>& tile = tiles->entries[k].fault.site.index;
    ASSERT_EQ(tile.size(), 4u);
    const int64_t tr = static_cast<int64_t>(k / 4), tc = static_cast<int64_t>(k % 4);
    EXPECT_EQ(tile[0], tr * 100) << k;
    EXPECT_EQ(tile[1], tc * 5) << k;
    EXPECT_EQ(tile[2], tr == 10 ? 24 : 100) << k;
    EXPECT_EQ(tile[3], tc == 3 ? 1 : 5) << k;
    area += tile[2] * tile[3];
    for (int64_t r = tile[0]; r < tile[0] + tile[2]; ++r)
      for (int64_t c = tile[1]; c < tile[1] + tile[3]; ++c) ++covered[static_cast<size_t>(r * 16 + c)];
  }
  EXPECT_EQ(area, 1024 * 16);
  EXPECT_EQ(std::count(covered.begin(), covered.end(), 1), 1024 * 16);
  EXPECT_EQ(tiles->entries.back().fault.site.index, (std::vector<int64_t>{1000, 15, 24, 1}));
  auto resolved = resolve_fault_list(*tiles, targets());
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  auto again = parse_fault_list(format_fault_list(*tiles), "tiles.csv");
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  for (size_t k = 0; k < tiles->entries.size(); ++k) EXPECT_EQ(again->entries[k].fault, tiles->entries[k].fault);

  // A tile campaign without a tile size, a pe campaign without an array.
  options.tile_rows = 0;
  auto no_tile = generate_exhaustive_faults(targets(), options);
  ASSERT_FALSE(no_tile.is_ok());
  EXPECT_NE(no_tile.status().message().find("'conv1'"), std::string::npos) << no_tile.status().message();
  EXPECT_NE(no_tile.status().message().find("tile size"), std::string::npos) << no_tile.status().message();
  GeneratorOptions pe;
  pe.target = SiteTarget::kPe;
  pe.layers = {"conv1"};
  auto no_array = generate_exhaustive_faults(targets(), pe);
  ASSERT_FALSE(no_array.is_ok());
  EXPECT_NE(no_array.status().message().find("array size"), std::string::npos) << no_array.status().message();
}

TEST_F(KernelSitesResNet20, RandomAccumulatorFaultsStayInsideTheLayer) {
  GeneratorOptions options;
  options.target = SiteTarget::kAccumulator;
  options.layers = {"conv1"};
  options.seed = 3;
  auto list = generate_random_faults(targets(), options, 50);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  ASSERT_EQ(list->entries.size(), 50u);
  std::set<std::tuple<std::vector<int64_t>, int64_t, int>> distinct;
  int64_t previous = -1;
  for (const FaultListEntry& entry : list->entries) {
    const FaultSite& site = entry.fault.site;
    ASSERT_EQ(site.target, SiteTarget::kAccumulator);
    EXPECT_EQ(site.layer, "conv1");
    ASSERT_EQ(site.index.size(), 3u);
    EXPECT_TRUE(site.index[0] >= 0 && site.index[0] < 16 && site.index[1] >= 0 && site.index[1] < 32 &&
                site.index[2] >= 0 && site.index[2] < 32)
        << index_to_string(site.index);
    EXPECT_TRUE(site.kernel.mac >= 0 && site.kernel.mac < 27) << site.kernel.mac;
    EXPECT_TRUE(site.bit >= 0 && site.bit < 32) << site.bit;
    distinct.insert({site.index, site.kernel.mac, site.bit});
    // Sorted by position: ((element * 27 + mac) * 32 + bit).
    const int64_t element = (site.index[0] * 32 + site.index[1]) * 32 + site.index[2];
    const int64_t position = (element * 27 + site.kernel.mac) * 32 + site.bit;
    EXPECT_GT(position, previous);
    previous = position;
  }
  EXPECT_EQ(distinct.size(), 50u);
  auto resolved = resolve_fault_list(*list, targets());
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();

  const std::string text = format_fault_list(*list);
  EXPECT_EQ(text.substr(0, text.find('\n')), "Injection,Layer,TensorIndex,Bit,Target,Mac");
  auto again = parse_fault_list(text, "generated.csv");
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  ASSERT_EQ(again->entries.size(), 50u);
  for (size_t k = 0; k < 50; ++k) EXPECT_EQ(again->entries[k].fault, list->entries[k].fault) << k;

  // The product space of the linear layer is 10 outputs x 64 MACs x 32 bits.
  options.target = SiteTarget::kProduct;
  options.layers = {"linear"};
  EXPECT_TRUE(generate_random_faults(targets(), options, 10 * 64 * 32).is_ok());
  EXPECT_FALSE(generate_random_faults(targets(), options, 10 * 64 * 32 + 1).is_ok());
}

TEST_F(KernelSitesResNet20, BerListsAreRefusedForKernelTargets) {
  GeneratorOptions options;
  options.target = SiteTarget::kPe;
  options.kernel.array = {4, 4, Dataflow::kOutputStationary, PeUnit::kAccumulator};
  auto ber = generate_ber_faults(targets(), options, 1e-3);
  ASSERT_FALSE(ber.is_ok());
  EXPECT_NE(ber.status().message().find("ber is not a kernel-level fault model"), std::string::npos)
      << ber.status().message();
}

// The BatchNorm kept: its layer is named, and so is a Conv the MAC arithmetic does not cover (1-D).
TEST(KernelSitesOtherLayers, NamingALayerOfAnotherOpSaysWhatItIs) {
  auto model = load_model(test_data("models/resnet20_bn.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto targets = list_fault_targets(**model);
  ASSERT_TRUE(targets.is_ok()) << targets.status().message();
  auto bn = find_fault_target(*targets, SiteTarget::kPe, "layer1.0.bn1");
  ASSERT_FALSE(bn.is_ok());
  EXPECT_NE(bn.status().message().find("'layer1.0.bn1' is a BatchNormalization, not a Conv, Gemm or MatMul layer for "
                                       "a pe site"),
            std::string::npos)
      << bn.status().message();
  size_t kernels = 0;
  for (const FaultTarget& t : *targets) kernels += t.kind == TargetKind::kKernel ? 1 : 0;
  EXPECT_EQ(kernels, 20u);  // the same 19 Conv + Gemm, BatchNorm apart

  testing::GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 2, 8});
  const ValueId w = b.constant("conv.weight", testing::random_tensor({3, 2, 3}, 1));
  b.output(b.node(OpKind::kConv, {x, w}, ConvAttrs{{3}, {}, {}, {0, 0}}, "conv", "y"));
  const Graph graph = b.build();
  auto conv1d = list_fault_targets(graph);
  ASSERT_TRUE(conv1d.is_ok()) << conv1d.status().message();
  for (const FaultTarget& t : *conv1d) EXPECT_NE(t.kind, TargetKind::kKernel) << t.layer;
  auto found = find_fault_target(*conv1d, SiteTarget::kProduct, "conv");
  ASSERT_FALSE(found.is_ok());
  EXPECT_NE(found.status().message().find("'conv' is a Conv that a product site cannot fault (float32 2-D Conv"),
            std::string::npos)
      << found.status().message();
}

// A Keras model (NHWC, a SeparableConv2D of two Conv nodes): synthetic_mobile's 12x12x3 image, padded to 15x13,
// a stride-2 3x3 DepthwiseConv2D (multiplier 2) to 7x6x6, a SeparableConv2D (3x3 depthwise, then 6 -> 5), a 1x1
// Conv2D 5 -> 4, global max pooling, Dense 4 -> 6 -> 3.
TEST(KernelSitesKeras, NhwcKernelsAndTheNodesOfOneLayer) {
  auto model = load_model(test_data("keras/synthetic_mobile.h5"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto all = list_fault_targets(**model);
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  std::vector<const FaultTarget*> kernels;
  for (const FaultTarget& t : *all)
    if (t.kind == TargetKind::kKernel) kernels.push_back(&t);
  ASSERT_EQ(kernels.size(), 6u);
  struct Expected {
    std::string layer, node;
    Shape shape;
    int64_t rows, cols, macs;
  };
  const Expected expected[] = {
      {"dw", "dw", {7, 6, 6}, 42, 6, 9},  // grouped: 1 input channel per output channel, 3x3
      {"sep", "sep/depthwise", {7, 6, 6}, 42, 6, 9},
      {"sep", "sep", {7, 6, 5}, 42, 5, 6},  // pointwise 6 -> 5
      {"pw", "pw", {7, 6, 4}, 42, 4, 5},
      {"fc1", "fc1", {6}, 1, 6, 4},
      {"fc2", "fc2", {3}, 1, 3, 6},
  };
  for (size_t i = 0; i < 6; ++i) {
    SCOPED_TRACE(expected[i].node);
    const FaultTarget& t = *kernels[i];
    EXPECT_EQ(t.layer, expected[i].layer);
    EXPECT_EQ(t.node, expected[i].node);
    EXPECT_EQ(t.shape, expected[i].shape);  // the model's (NHWC) order
    EXPECT_EQ(t.gemm_rows, expected[i].rows);
    EXPECT_EQ(t.gemm_cols, expected[i].cols);
    EXPECT_EQ(t.macs, expected[i].macs);
    // Each kernel is reachable by the node name `faultline layers --kind kernel` lists, and by its output value.
    for (const std::string& name : {t.node, t.name}) {
      auto found = find_fault_target(*all, SiteTarget::kAccumulator, name);
      ASSERT_TRUE(found.is_ok()) << name << ": " << found.status().message();
      EXPECT_EQ(&(*all)[*found], &t) << name;
    }
  }
  // The layer name "sep" is its node "sep" (the pointwise Conv, the layer's output).
  auto sep = find_fault_target(*all, SiteTarget::kPe, "sep");
  ASSERT_TRUE(sep.is_ok());
  EXPECT_EQ((*all)[*sep].macs, 6);

  // An accumulator index is in the model's order (h, w, c); the kernel writes the engine's NCHW offset.
  Fault fault;
  fault.site.target = SiteTarget::kAccumulator;
  fault.site.layer = "pw";
  fault.site.index = {2, 3, 3};
  fault.site.bit = 30;
  auto element = check_kernel_fault(fault, *kernels[3]);
  ASSERT_TRUE(element.is_ok()) << element.status().message();
  EXPECT_EQ(*element, (2 * 6 + 3) * 4 + 3);
  EXPECT_EQ(engine_element(*kernels[3], *element), 3 * 42 + 2 * 6 + 3);
  fault.site.index = {2, 3, 4};  // channel 4 of 4
  EXPECT_FALSE(check_kernel_fault(fault, *kernels[3]).is_ok());
}

// ---------------------------------------------------------------------------------------------------------------
// Experiment YAML

class KernelExperimentYaml : public ::testing::Test {
 protected:
  void SetUp() override { path_ = (fs::path(temp_dir()) / "experiment.yaml").string(); }

  // An experiment over ResNet20 whose faults.generate holds `generate` (a flow map's inside).
  Result<ExperimentConfig> parse(const std::string& generate) const {
    const std::string text = "model: " + test_data(kResnet20) +
                             "\ndataset: {format: npy, inputs: " + test_data(kResnet20Input) +
                             "}\nfaults:\n  generate: {" + generate + "}\noutput: out\nthreads: 1\n";
    return parse_experiment(text, path_);
  }
  void expect_error(const std::string& generate, const std::string& key_path, const std::string& detail) const {
    auto config = parse(generate);
    ASSERT_FALSE(config.is_ok()) << "parsed: " << generate;
    const std::string& message = config.status().message();
    const std::string prefix = path_ + ": " + key_path + ": ";
    EXPECT_EQ(message.rfind(prefix, 0), 0u) << "message: " << message << "\nexpected prefix: " << prefix;
    EXPECT_NE(message.find(detail), std::string::npos) << "message: " << message << "\nmissing: " << detail;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }

  std::string path_;
};

TEST_F(KernelExperimentYaml, PeArrayKeys) {
  auto config = parse(
      "target: pe, layers: [conv1], array: {rows: 16, cols: 8, dataflow: ws, unit: product}, "
      "bits: \"30\", model: stuck-at-1, exhaustive: true");
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  const GeneratorOptions& options = config->faults.generate->options;
  EXPECT_EQ(options.target, SiteTarget::kPe);
  EXPECT_EQ(options.kernel.array, (PeArray{16, 8, Dataflow::kWeightStationary, PeUnit::kProduct}));
  EXPECT_EQ(options.models, (std::vector<FaultModel>{FaultModel::kStuckAt1}));
  EXPECT_TRUE(config->faults.generate->exhaustive);
  EXPECT_NE(describe_experiment(*config).find("pe faults (16x8 weight-stationary product)"), std::string::npos)
      << describe_experiment(*config);

  auto defaults = parse("target: pe, array: {rows: 2, cols: 3}, count: 5");
  ASSERT_TRUE(defaults.is_ok()) << defaults.status().message();
  EXPECT_EQ(defaults->faults.generate->options.kernel.array,
            (PeArray{2, 3, Dataflow::kOutputStationary, PeUnit::kAccumulator}));
  auto spelled = parse("target: pe, array: {rows: 2, cols: 3, dataflow: weight-stationary}, count: 5");
  ASSERT_TRUE(spelled.is_ok()) << spelled.status().message();
  EXPECT_EQ(spelled->faults.generate->options.kernel.array.dataflow, Dataflow::kWeightStationary);
}

TEST_F(KernelExperimentYaml, PatternAndTileKeys) {
  auto row = parse("target: pattern, pattern: row, count: 10");
  ASSERT_TRUE(row.is_ok()) << row.status().message();
  EXPECT_EQ(row->faults.generate->options.target, SiteTarget::kPattern);
  EXPECT_EQ(row->faults.generate->options.kernel.pattern, OutputPattern::kRow);

  auto tile = parse("target: pattern, pattern: tile, tile: {rows: 4, cols: 2}, exhaustive: true");
  ASSERT_TRUE(tile.is_ok()) << tile.status().message();
  const GeneratorOptions& options = tile->faults.generate->options;
  EXPECT_EQ(options.kernel.pattern, OutputPattern::kTile);
  EXPECT_EQ(options.tile_rows, 4);
  EXPECT_EQ(options.tile_cols, 2);

  auto accumulator = parse("target: accumulator, layers: [\"layer3.*\"], count: 10");
  ASSERT_TRUE(accumulator.is_ok()) << accumulator.status().message();
  EXPECT_EQ(accumulator->faults.generate->options.target, SiteTarget::kAccumulator);
}

TEST_F(KernelExperimentYaml, ErrorsNameTheKeyPath) {
  expect_error("target: pe, count: 5", "faults.generate.array", "target pe needs an array");
  expect_error("target: pe, array: {rows: 4}, count: 5", "faults.generate.array", "needs rows and cols");
  expect_error("target: pe, array: {rows: 4, cols: 4, dataflow: x}, count: 5", "faults.generate.array.dataflow", "x");
  expect_error("target: pe, array: {rows: 4, cols: 4, unit: adder}, count: 5", "faults.generate.array.unit", "adder");
  expect_error("target: pe, array: {rows: 0, cols: 4}, count: 5", "faults.generate.array.rows", "");
  expect_error("target: pe, array: {rows: 4, cols: 4, depth: 2}, count: 5", "faults.generate.array.depth",
               "unknown key; allowed: rows, cols, dataflow, unit");
  expect_error("target: pattern, pattern: row, tile: {rows: 4, cols: 4}, count: 5", "faults.generate.tile",
               "pattern tile only");
  expect_error("target: pattern, pattern: tile, count: 5", "faults.generate.tile", "pattern tile needs a tile");
  expect_error("target: pattern, pattern: tile, tile: {rows: 4}, count: 5", "faults.generate.tile",
               "needs rows and cols");
  expect_error("target: pattern, count: 5", "faults.generate.pattern", "target pattern needs a pattern");
  expect_error("target: pattern, pattern: diag, count: 5", "faults.generate.pattern", "diag");
  expect_error("target: pe, array: {rows: 4, cols: 4}, pattern: row, count: 5", "faults.generate.pattern",
               "is not read by target pe");
  expect_error("target: weight, array: {rows: 4, cols: 4}, count: 5", "faults.generate.array",
               "is not read by target weight");
  expect_error("target: accumulator, tile: {rows: 4, cols: 4}, count: 5", "faults.generate.tile",
               "is not read by target accumulator");
}

// ---------------------------------------------------------------------------------------------------------------
// Reports

FaultOutcome outcome(int64_t n, int64_t masked, int64_t non_critical, int64_t critical, int64_t due) {
  FaultOutcome o;
  o.n_injections = n;
  o.masked = masked;
  o.non_critical = non_critical;
  o.critical = critical;
  o.due = due;
  o.top_1_robust = masked + non_critical;
  o.top_5_robust = n - due;
  return o;
}

std::vector<std::vector<std::string>> read_csv_rows(const std::string& path) {
  auto records = parse_csv(read_text(path), path);
  EXPECT_TRUE(records.is_ok()) << records.status().message();
  std::vector<std::vector<std::string>> rows;
  if (records.is_ok())
    for (const CsvRecord& record : *records) rows.push_back(record.fields);
  return rows;
}

// A report row's numeric field `name` (by the header) checked against a hand-computed value.
void expect_field(const std::vector<std::string>& header, const std::vector<std::string>& row, const std::string& name,
                  double expected) {
  const auto it = std::find(header.begin(), header.end(), name);
  ASSERT_NE(it, header.end()) << name;
  const std::string& text = row[static_cast<size_t>(it - header.begin())];
  ASSERT_FALSE(text.empty()) << name;
  EXPECT_NEAR(std::stod(text), expected, 1e-12) << name << " = " << text;
}

// Counts, rates and 99 % margins (z = 2.576, Wald) of one group, from its summed counts.
void expect_group(const std::vector<std::string>& header, const std::vector<std::string>& row, int64_t faults,
                  int64_t n, int64_t masked, int64_t non_critical, int64_t critical, int64_t due) {
  expect_field(header, row, "faults", static_cast<double>(faults));
  expect_field(header, row, "n_injections", static_cast<double>(n));
  const std::pair<const char*, int64_t> counts[] = {
      {"masked", masked}, {"non_critical", non_critical}, {"critical", critical}, {"due", due}};
  for (const auto& [name, count] : counts) {
    const double p = static_cast<double>(count) / static_cast<double>(n);
    expect_field(header, row, name, static_cast<double>(count));
    expect_field(header, row, std::string(name) + "_rate", p);
    expect_field(header, row, std::string(name) + "_margin99", 2.576 * std::sqrt(p * (1 - p) / static_cast<double>(n)));
  }
  // Unlabelled: the correct counts are empty.
  const auto correct = std::find(header.begin(), header.end(), "top_1_correct");
  ASSERT_NE(correct, header.end());
  EXPECT_EQ(row[static_cast<size_t>(correct - header.begin())], "");
}

TEST(KernelReports, PesAndPatternsGroupTheirRows) {
  const std::vector<std::string> header = {"Injection", "Layer",    "TensorIndex", "Bit",    "Target",
                                           "Array",     "Dataflow", "Unit",        "Pattern"};
  const std::vector<std::vector<std::string>> rows = {
      {"0", "conv1", "(0, 1)", "30", "pe", "4x4", "output-stationary", "accumulator", ""},
      {"1", "conv1", "(1, 0)", "30", "pe", "4x4", "output-stationary", "accumulator", ""},
      {"2", "conv1", "(0, 1)", "31", "pe", "4x4", "output-stationary", "accumulator", ""},
      {"3", "conv1", "(0, 1)", "31", "pe", "4x4", "", "", ""},  // the defaults: the same PE as rows 0 and 2
      {"4", "conv1", "(0, 1)", "30", "pe", "4x4", "weight-stationary", "accumulator", ""},
      {"5", "layer1.0.conv1", "(0, 1)", "30", "pe", "4x4", "output-stationary", "accumulator", ""},
      {"6", "conv1", "(3, 0, 2, 1)", "30", "weight", "", "", "", ""},
      {"7", "conv1", "(5,)", "30", "pattern", "", "", "", "row"},
      {"8", "conv1", "(0, 0, 0)", "30", "accumulator", "", "", "", ""},
      {"9", "conv1", "(5,)", "31", "pattern", "", "", "", "row"},
      {"10", "conv1", "(5,)", "31", "pattern", "", "", "", "column"},
      {"11", "conv1", "(0, 0, 4, 4)", "31", "pattern", "", "", "", "tile"},
  };
  const std::vector<FaultOutcome> outcomes = {
      outcome(10, 6, 2, 1, 1), outcome(10, 10, 0, 0, 0), outcome(10, 4, 3, 3, 0),  outcome(10, 0, 0, 10, 0),
      outcome(10, 9, 1, 0, 0), outcome(10, 5, 5, 0, 0),  outcome(10, 0, 0, 0, 10), outcome(10, 2, 2, 3, 3),
      outcome(10, 1, 1, 1, 7), outcome(10, 7, 1, 2, 0),  outcome(10, 8, 2, 0, 0),  outcome(10, 3, 3, 3, 1),
  };
  const std::string folder = temp_dir();
  auto written = write_kernel_reports(folder, header, rows, outcomes);
  ASSERT_TRUE(written.is_ok()) << written.status().message();
  EXPECT_EQ(*written, (std::vector<std::string>{(fs::path(folder) / "pes.csv").string(),
                                                (fs::path(folder) / "patterns.csv").string()}));

  const auto pes = read_csv_rows((fs::path(folder) / "pes.csv").string());
  ASSERT_EQ(pes.size(), 5u);  // header + 4 PEs
  // The key columns, faults, n_injections, then count, rate and 99 % margin of each outcome (as layers.csv).
  std::vector<std::string> expected_header = {"layer",  "array",  "dataflow", "unit",
                                              "pe_row", "pe_col", "faults",   "n_injections"};
  for (const char* name : {"masked", "non_critical", "critical", "due", "top_1_correct", "top_5_correct",
                           "top_1_robust", "top_5_robust"}) {
    for (const char* suffix : {"", "_rate", "_margin99"}) expected_header.push_back(std::string(name) + suffix);
  }
  EXPECT_EQ(pes[0], expected_header);
  auto key = [](const std::vector<std::string>& row, size_t n) {
    return std::vector<std::string>(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(n));
  };
  // In the order of first appearance; rows 0, 2, 3 are one PE.
  EXPECT_EQ(key(pes[1], 6), (std::vector<std::string>{"conv1", "4x4", "output-stationary", "accumulator", "0", "1"}));
  expect_group(pes[0], pes[1], 3, 30, 6 + 4 + 0, 2 + 3 + 0, 1 + 3 + 10, 1 + 0 + 0);
  EXPECT_EQ(key(pes[2], 6), (std::vector<std::string>{"conv1", "4x4", "output-stationary", "accumulator", "1", "0"}));
  expect_group(pes[0], pes[2], 1, 10, 10, 0, 0, 0);
  EXPECT_EQ(key(pes[3], 6), (std::vector<std::string>{"conv1", "4x4", "weight-stationary", "accumulator", "0", "1"}));
  expect_group(pes[0], pes[3], 1, 10, 9, 1, 0, 0);
  EXPECT_EQ(key(pes[4], 6),
            (std::vector<std::string>{"layer1.0.conv1", "4x4", "output-stationary", "accumulator", "0", "1"}));
  expect_group(pes[0], pes[4], 1, 10, 5, 5, 0, 0);
  // top_1_robust = masked + non_critical summed: (6+2) + (4+3) + (0+0) = 15 of 30.
  expect_field(pes[0], pes[1], "top_1_robust", 15);
  expect_field(pes[0], pes[1], "top_1_robust_rate", 0.5);

  const auto patterns = read_csv_rows((fs::path(folder) / "patterns.csv").string());
  ASSERT_EQ(patterns.size(), 4u);  // header + row (5,), column (5,), tile
  EXPECT_EQ(std::vector<std::string>(patterns[0].begin(), patterns[0].begin() + 5),
            (std::vector<std::string>{"layer", "pattern", "index", "faults", "n_injections"}));
  EXPECT_EQ(key(patterns[1], 3), (std::vector<std::string>{"conv1", "row", "(5,)"}));
  expect_group(patterns[0], patterns[1], 2, 20, 2 + 7, 2 + 1, 3 + 2, 3 + 0);
  EXPECT_EQ(key(patterns[2], 3), (std::vector<std::string>{"conv1", "column", "(5,)"}));
  expect_group(patterns[0], patterns[2], 1, 10, 8, 2, 0, 0);
  EXPECT_EQ(key(patterns[3], 3), (std::vector<std::string>{"conv1", "tile", "(0, 0, 4, 4)"}));
  expect_group(patterns[0], patterns[3], 1, 10, 3, 3, 3, 1);
}

TEST(KernelReports, NothingWithoutKernelRows) {
  const std::vector<std::string> header = {"Injection", "Layer", "TensorIndex", "Bit", "Target"};
  const std::vector<std::vector<std::string>> rows = {{"0", "conv1", "(3, 0, 2, 1)", "30", "weight"},
                                                      {"1", "conv1", "(0, 0, 0)", "30", "accumulator"}};
  const std::vector<FaultOutcome> outcomes = {outcome(4, 4, 0, 0, 0), outcome(4, 0, 0, 4, 0)};
  const std::string folder = temp_dir();
  auto written = write_kernel_reports(folder, header, rows, outcomes);
  ASSERT_TRUE(written.is_ok()) << written.status().message();
  EXPECT_TRUE(written->empty());
  // A list without a Target column (every row a weight).
  auto base = write_kernel_reports(folder, {"Injection", "Layer", "TensorIndex", "Bit"},
                                   {{"0", "conv1", "(3, 0, 2, 1)", "30"}}, {outcome(4, 4, 0, 0, 0)});
  ASSERT_TRUE(base.is_ok()) << base.status().message();
  EXPECT_TRUE(base->empty());
  EXPECT_TRUE(fs::is_empty(folder));
}

// `faultline run` of an exhaustive stuck-at-1 campaign over the 4 PEs of a 2x2 array on conv1.
TEST(KernelReports, PeCampaignWritesPesCsv) {
  const std::string dir = temp_dir();
  const std::string yaml = dir + "/pe.yaml";
  std::ofstream(yaml) << "model: " << test_data(kResnet20) << "\n"
                      << "dataset: {format: npy, inputs: " << test_data(kResnet20Input) << ", limit: 2}\n"
                      << "batch_size: 2\nthreads: 1\n"
                      << "faults:\n  generate: {target: pe, layers: [conv1], array: {rows: 2, cols: 2}, bits: \"30\", "
                         "model: stuck-at-1, exhaustive: true}\n"
                      << "output: " << dir << "/out\n";
  auto r = run_faultline("run " + yaml + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  const auto summary = read_csv_rows(dir + "/out/summary.csv");
  ASSERT_EQ(summary.size(), 6u) << "header, GOLDEN, 4 faults";
  const auto pes = read_csv_rows(dir + "/out/pes.csv");
  ASSERT_EQ(pes.size(), 5u) << read_text(dir + "/out/pes.csv");
  const std::vector<std::vector<std::string>> pe_index = {{"0", "0"}, {"0", "1"}, {"1", "0"}, {"1", "1"}};
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    const std::vector<std::string>& row = pes[i + 1];
    EXPECT_EQ(
        std::vector<std::string>(row.begin(), row.begin() + 6),
        (std::vector<std::string>{"conv1", "2x2", "output-stationary", "accumulator", pe_index[i][0], pe_index[i][1]}));
    expect_field(pes[0], row, "faults", 1);
    expect_field(pes[0], row, "n_injections", 2);
    // Bit 30 (the exponent's top bit) held at 1 in a quarter of conv1's accumulators: no image is untouched.
    expect_field(pes[0], row, "masked", 0);
    // The same counts as the fault's summary row.
    const std::vector<std::string>& fault = summary[i + 2];
    const size_t base = fault.size() - kSummaryOutcomeColumns;
    expect_field(pes[0], row, "non_critical", std::stod(fault[base + 2]));
    expect_field(pes[0], row, "critical", std::stod(fault[base + 3]));
    expect_field(pes[0], row, "due", std::stod(fault[base + 4]));
  }
  EXPECT_FALSE(fs::exists(dir + "/out/patterns.csv"));
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

TEST(KernelCli, LayersKindKernelListsTheGemmViews) {
  const std::string model = test_data(kResnet20);
  auto csv = run_faultline("layers " + model + " --kind kernel --csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  std::vector<std::string> lines;
  for (size_t start = 0; start < csv.out.size();) {
    const size_t end = csv.out.find('\n', start);
    lines.push_back(csv.out.substr(start, end - start));
    start = end == std::string::npos ? csv.out.size() : end + 1;
  }
  ASSERT_EQ(lines.size(), 21u) << csv.out;
  EXPECT_EQ(lines[0], "kind,layer,node,op,shape,gemm_rows,gemm_cols,macs");
  EXPECT_EQ(lines[1], "kernel,conv1,/conv1/Conv,Conv,\"[16, 32, 32]\",1024,16,27");
  EXPECT_EQ(lines[8], "kernel,layer2.0.conv1,/layer2/layer2.0/conv1/Conv,Conv,\"[32, 16, 16]\",256,32,144");
  EXPECT_EQ(lines[19], "kernel,layer3.2.conv2,/layer3/layer3.2/conv2/Conv,Conv,\"[64, 8, 8]\",64,64,576");
  EXPECT_EQ(lines[20], "kernel,linear,/linear/Gemm,Gemm,\"[10]\",1,10,64");

  auto table = run_faultline("layers " + model + " --kind kernel");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("kind", 0), 0u) << table.out;
  bool conv1 = false, linear = false;
  for (size_t start = 0; start < table.out.size();) {
    const size_t end = table.out.find('\n', start);
    const std::string line = table.out.substr(start, end - start);
    start = end == std::string::npos ? table.out.size() : end + 1;
    if (line.rfind("kernel     conv1 ", 0) == 0) {
      conv1 = line.find("[16, 32, 32]") != std::string::npos && line.find("1024x16") != std::string::npos &&
              line.substr(line.size() - 3) == " 27";
    }
    if (line.rfind("kernel     linear ", 0) == 0)
      linear = line.find("1x10") != std::string::npos && line.substr(line.size() - 3) == " 64";
  }
  EXPECT_TRUE(conv1) << table.out;
  EXPECT_TRUE(linear) << table.out;

  // Kernel targets are listed only when asked for.
  auto all = run_faultline("layers " + model + " --csv");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.out.find("\nkernel,"), std::string::npos);
  auto bad = run_faultline("layers " + model + " --kind kernels");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("weight, activation, input, kernel or all"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace faultline
