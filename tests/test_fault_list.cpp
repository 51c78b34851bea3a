// Fault-list CSV: the published dnn-benchmarks list, round trips, errors with line numbers, and resolution
// against fault targets (a hand-built list, and the real ResNet20 with BatchNorm kept).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/file_io.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

const char kPublished[] = "faultlists/dnn-benchmarks_ResNet20_FL.csv";

FaultTarget weight(std::string layer, std::string name, std::string op, Shape shape, DType dtype = DType::kFloat32) {
  int64_t elements = numel(shape);
  return {TargetKind::kWeight, std::move(layer), std::move(name), std::move(op), std::move(shape), dtype, elements};
}
FaultTarget activation(std::string layer, std::string name, std::string op, Shape shape) {
  int64_t elements = numel(shape);
  return {TargetKind::kActivation, std::move(layer), std::move(name), std::move(op),
          std::move(shape),        DType::kFloat32,  elements};
}

// A small model's targets, as list_fault_targets would give them.
std::vector<FaultTarget> synthetic_targets() {
  return {
      weight("conv1", "conv1.weight", "Conv", {16, 3, 3, 3}),
      weight("conv1", "conv1.bias", "Conv", {16}),
      weight("bn1", "bn1.weight", "BatchNormalization", {16}),
      weight("bn1", "bn1.running_var", "BatchNormalization", {16}),
      weight("fc", "onnx::Gemm_42", "Gemm", {10, 16}),  // an exporter's generated initializer name
      weight("q", "q.weight", "Conv", {4, 4}, DType::kInt8),
      activation("conv1", "/conv1/Conv_output_0", "Conv", {16, 32, 32}),
      activation("relu", "/relu/Relu_output_0", "Relu", {16, 32, 32}),
  };
}

Result<std::vector<ResolvedFault>> resolve_text(const std::string& text) {
  FL_ASSIGN_OR_RETURN(FaultList list, parse_fault_list(text, "faults.csv"));
  return resolve_fault_list(list, synthetic_targets());
}

std::string parse_error(const std::string& text) {
  auto list = parse_fault_list(text, "faults.csv");
  return list.is_ok() ? "(parsed)" : list.status().message();
}

std::string resolve_error(const std::string& text) {
  auto resolved = resolve_text(text);
  return resolved.is_ok() ? "(resolved)" : resolved.status().message();
}

const std::string kHeader = "Injection,Layer,TensorIndex,Bit\n";

TEST(FaultList, PublishedListParses) {
  auto list = read_fault_list(testing::test_data(kPublished));
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  ASSERT_EQ(list->entries.size(), 16627u);
  EXPECT_EQ(list->extra_columns, (std::vector<std::string>{"n_injections", "masked", "non_critical", "critical"}));
  const FaultListEntry& first = list->entries.front();
  EXPECT_EQ(first.injection, 0);
  EXPECT_EQ(first.line, 2);
  EXPECT_EQ(first.fault.site.target, SiteTarget::kWeight);
  EXPECT_EQ(first.fault.site.layer, "conv1");
  EXPECT_EQ(first.fault.site.index, (std::vector<int64_t>{3, 0, 2, 1}));
  EXPECT_EQ(first.fault.site.bit, 15);
  EXPECT_EQ(first.fault.model, FaultModel::kBitFlip);
  EXPECT_EQ(first.extra, (std::vector<std::string>{"10000", "14", "9985", "1"}));
  const FaultListEntry& last = list->entries.back();
  EXPECT_EQ(last.injection, 16626);
  EXPECT_EQ(last.fault.site.layer, "linear");
  EXPECT_EQ(last.fault.site.index, (std::vector<int64_t>{2, 26}));
  EXPECT_EQ(last.fault.site.bit, 4);
  EXPECT_EQ(last.extra, (std::vector<std::string>{"10000", "2418", "7582", "0"}));
}

TEST(FaultList, PublishedListRoundTripsByteForByte) {
  const std::string path = testing::test_data(kPublished);
  auto text = read_file(path);
  ASSERT_TRUE(text.is_ok());
  auto list = parse_fault_list(text.value(), path);
  ASSERT_TRUE(list.is_ok());
  EXPECT_EQ(format_fault_list(list.value()), text.value());
}

TEST(FaultList, IndexSyntax) {
  bool flat = true;
  EXPECT_EQ(parse_index("(3, 0, 2, 1)", &flat).value(), (std::vector<int64_t>{3, 0, 2, 1}));
  EXPECT_FALSE(flat);
  EXPECT_EQ(parse_index("(5,)").value(), (std::vector<int64_t>{5}));
  EXPECT_EQ(parse_index("[1,2]").value(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(parse_index("()").value(), (std::vector<int64_t>{}));
  EXPECT_EQ(parse_index(" 17 ", &flat).value(), (std::vector<int64_t>{17}));
  EXPECT_TRUE(flat);
  EXPECT_EQ(index_to_string({5}), "(5,)");
  EXPECT_EQ(index_to_string({3, 0, 2, 1}), "(3, 0, 2, 1)");
  EXPECT_FALSE(parse_index("(1,,2)").is_ok());
  EXPECT_FALSE(parse_index("(1, x)").is_ok());
  EXPECT_FALSE(parse_index("(1, 2").is_ok());
  EXPECT_FALSE(parse_index("(-1, 2)").is_ok());
  EXPECT_FALSE(parse_index("").is_ok());
}

TEST(FaultList, NamesRoundTrip) {
  for (int i = 0; i < kSiteTargetCount; ++i) {
    auto target = static_cast<SiteTarget>(i);
    EXPECT_EQ(site_target_from_name(site_target_name(target)), target);
  }
  for (int i = 0; i < kFaultModelCount; ++i) {
    auto model = static_cast<FaultModel>(i);
    EXPECT_EQ(fault_model_from_name(fault_model_name(model)), model);
  }
  for (int i = 0; i < kPersistenceCount; ++i) {
    auto persistence = static_cast<Persistence>(i);
    EXPECT_EQ(persistence_from_name(persistence_name(persistence)), persistence);
  }
  EXPECT_EQ(site_target_from_name("Activations"), SiteTarget::kActivation);
  EXPECT_EQ(fault_model_from_name("SA1"), FaultModel::kStuckAt1);
  EXPECT_EQ(fault_model_from_name("bit-flip"), FaultModel::kBitFlip);
  EXPECT_EQ(fault_model_from_name("flop"), std::nullopt);
  EXPECT_EQ(parse_mask("0x1F").value(), 31u);
  EXPECT_EQ(parse_mask("0b101").value(), 5u);
  EXPECT_FALSE(parse_mask("0").is_ok());
  EXPECT_EQ(parse_step_range("3-5").value(), (StepRange{3, 5}));
  EXPECT_EQ(parse_step_range("4").value(), (StepRange{4, 4}));
  EXPECT_FALSE(parse_step_range("5-3").is_ok());
  EXPECT_FALSE(parse_step_range("-1").is_ok());
  Fault fault;
  fault.site = {SiteTarget::kWeight, "layer1.0.conv1", {3, 0, 2, 1}, false, 15, std::nullopt, std::nullopt};
  EXPECT_EQ(describe(fault), "weight layer1.0.conv1 (3, 0, 2, 1) bit 15 bitflip");
}

TEST(FaultList, OptionalColumnsRoundTrip) {
  FaultList list;
  list.source = "memory";
  list.extra_columns = {"note"};
  auto add = [&](Fault fault, std::string note) {
    FaultListEntry entry;
    entry.injection = static_cast<int64_t>(list.entries.size());
    entry.fault = std::move(fault);
    entry.extra = {std::move(note)};
    list.entries.push_back(std::move(entry));
  };
  Fault plain;
  plain.site = {SiteTarget::kWeight, "conv1", {1, 2, 0, 0}, false, 31, std::nullopt, std::nullopt};
  add(plain, "plain, with a comma");
  Fault stuck = plain;
  stuck.model = FaultModel::kStuckAt1;
  stuck.site.bit = 30;
  add(stuck, "say \"hi\"");
  Fault multi;
  multi.site = {SiteTarget::kActivation, "relu", {3, 4, 5}, false, kNoBit, 2, std::nullopt};
  multi.model = FaultModel::kMultiBitFlip;
  multi.mask = 0xC0000000;
  multi.persistence = Persistence::kInference;
  add(multi, "");
  Fault value;
  value.site = {SiteTarget::kActivation, "/relu/Relu_output_0", {7}, true, kNoBit, std::nullopt, StepRange{3, 5}};
  value.model = FaultModel::kValue;
  value.value = -0.1;
  value.persistence = Persistence::kSteps;
  add(value, "x");
  Fault ber;
  ber.site.layer = "conv1";
  ber.model = FaultModel::kBitErrorRate;
  ber.value = 1e-7;
  add(ber, "y");
  Fault zero;
  zero.site = {SiteTarget::kWeight, "q", {0, 1}, false, kNoBit, std::nullopt, std::nullopt};
  zero.model = FaultModel::kZero;
  add(zero, "z");

  const std::string text = format_fault_list(list);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value,Step,Batch,Persistence,note");
  auto parsed = parse_fault_list(text, "memory.csv");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().message() << "\n" << text;
  ASSERT_EQ(parsed->entries.size(), list.entries.size());
  for (size_t i = 0; i < list.entries.size(); ++i) {
    EXPECT_EQ(parsed->entries[i].fault, list.entries[i].fault) << "entry " << i << "\n" << text;
    EXPECT_EQ(parsed->entries[i].extra, list.entries[i].extra) << "entry " << i;
    EXPECT_EQ(parsed->entries[i].line, static_cast<int64_t>(i) + 2);
  }
  EXPECT_EQ(format_fault_list(parsed.value()), text);
}

TEST(FaultList, OptionalColumnsInAnyOrderAndSfiMultipleBits) {
  const std::string text =
      "critical,Model,Bit,TensorIndex,Layer,Target,Injection\n"
      "1,stuck-at-0,7,\"(0, 1)\",q,weight,5\n"
      "0,,\"3,5\",\"(1, 2, 3)\",relu,activations,6\n";
  auto list = parse_fault_list(text, "faults.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  ASSERT_EQ(list->entries.size(), 2u);
  EXPECT_EQ(list->entries[0].injection, 5);
  EXPECT_EQ(list->entries[0].fault.model, FaultModel::kStuckAt0);
  EXPECT_EQ(list->entries[0].extra, std::vector<std::string>{"1"});
  EXPECT_EQ(list->entries[1].fault.site.target, SiteTarget::kActivation);
  EXPECT_EQ(list->entries[1].fault.model, FaultModel::kMultiBitFlip);
  EXPECT_EQ(list->entries[1].fault.mask, 0x28u);
  // Written back with the fault columns first and the result column kept.
  EXPECT_EQ(format_fault_list(list.value()),
            "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,critical\n"
            "5,q,\"(0, 1)\",7,weight,stuck-at-0,,1\n"
            "6,relu,\"(1, 2, 3)\",,activation,multibit,0x28,0\n");
}

TEST(FaultList, MalformedLinesNameTheLine) {
  EXPECT_EQ(parse_error(kHeader + "0,conv1,\"(1, 2, 0, 0)\",3\n1,conv1,(1, 2, 0, 0),3\n"),
            "faults.csv:3: 7 fields, the header has 4 (is a tensor index with commas missing its quotes?)");
  EXPECT_EQ(parse_error(kHeader + "0,conv1,\"(1, 2, 0, 0)\",3\n\n1,conv1,\"(1, 2, 0, 0)\",70\n"),
            "faults.csv:4: bit 70 is out of range (0-63)");
  EXPECT_EQ(parse_error(kHeader + "0,conv1,\"(1, x)\",3\n"),
            "faults.csv:2: tensor index '(1, x)' has a non-integer element 'x'");
  EXPECT_EQ(parse_error(kHeader + "0,conv1,\"(1, 2)\",three\n"),
            "faults.csv:2: bit 'three' is not an integer or a list of them");
  EXPECT_EQ(parse_error(kHeader + "0,,\"(1, 2)\",3\n"), "faults.csv:2: the Layer is empty");
  EXPECT_EQ(parse_error(kHeader + "0,conv1,,3\n"), "faults.csv:2: the TensorIndex is empty");
  EXPECT_EQ(parse_error(kHeader + "0,conv1,\"(1, 2),3\n"), "faults.csv:2: a quoted field is never closed");
  EXPECT_EQ(parse_error("Injection,Layer,TensorIndex,Bit,Model\n0,conv1,\"(1, 2)\",3,flipflop\n"),
            "faults.csv:2: Model 'flipflop' is not bitflip, multibit, stuck-at-0, stuck-at-1, zero, value, random "
            "or ber");
  EXPECT_EQ(parse_error("Injection,Layer,TensorIndex,Bit,Model\n0,conv1,\"(1, 2)\",,stuck-at-1\n"),
            "faults.csv:2: stuck-at-1 needs a Bit");
  EXPECT_EQ(parse_error("Injection,Layer,TensorIndex,Bit,Model\n0,conv1,\"(1, 2)\",,value\n"),
            "faults.csv:2: value needs a Value");
  EXPECT_EQ(parse_error("Injection,Name,TensorIndex,Bit\n"),
            "faults.csv:1: the header has no 'Layer' column (expected Injection,Layer,TensorIndex,Bit)");
  EXPECT_EQ(parse_error(""), "faults.csv: the fault list is empty (no header)");
  // CRLF line ends and a header only are fine.
  auto crlf = parse_fault_list("Injection,Layer,TensorIndex,Bit\r\n0,conv1,\"(1, 2, 0, 0)\",3\r\n", "f.csv");
  ASSERT_TRUE(crlf.is_ok()) << crlf.status().message();
  EXPECT_EQ(crlf->entries.size(), 1u);
  EXPECT_TRUE(parse_fault_list(kHeader, "f.csv").is_ok());
}

TEST(FaultList, ResolvesAgainstHandBuiltTargets) {
  auto resolved = resolve_text(kHeader +
                               "0,conv1,\"(1, 2, 0, 1)\",31\n"  // conv1 -> conv1.weight
                               "1,conv1.bias,\"(15,)\",0\n"     // exact parameter name
                               "2,bn1.running_var,\"(3,)\",30\n"
                               "3,bn1,\"(3,)\",30\n"   // bn1 -> bn1.weight
                               "4,fc,\"(9, 15)\",7\n"  // generated name: the layer's first parameter
                               "5,q,\"(3, 3)\",7\n"    // int8: bits 0-7
                               "6,conv1,431,2\n");     // flat index
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  ASSERT_EQ(resolved->size(), 7u);
  const std::vector<FaultTarget> targets = synthetic_targets();
  EXPECT_EQ(targets[(*resolved)[0].target].name, "conv1.weight");
  EXPECT_EQ((*resolved)[0].element, ((1 * 3 + 2) * 3 + 0) * 3 + 1);
  EXPECT_EQ(targets[(*resolved)[1].target].name, "conv1.bias");
  EXPECT_EQ((*resolved)[1].element, 15);
  EXPECT_EQ(targets[(*resolved)[2].target].name, "bn1.running_var");
  EXPECT_EQ(targets[(*resolved)[3].target].name, "bn1.weight");
  EXPECT_EQ(targets[(*resolved)[4].target].name, "onnx::Gemm_42");
  EXPECT_EQ((*resolved)[4].element, 9 * 16 + 15);
  EXPECT_EQ(targets[(*resolved)[5].target].name, "q.weight");
  EXPECT_EQ((*resolved)[6].element, 431);

  auto activations = resolve_text(
      "Injection,Layer,TensorIndex,Bit,Target,Batch\n"
      "0,conv1,\"(15, 31, 31)\",30,activation,\n"
      "1,/relu/Relu_output_0,\"(0, 0, 1)\",3,activation,7\n");
  ASSERT_TRUE(activations.is_ok()) << activations.status().message();
  EXPECT_EQ(targets[(*activations)[0].target].name, "/conv1/Conv_output_0");
  EXPECT_EQ((*activations)[0].element, 16 * 32 * 32 - 1);
  EXPECT_EQ(targets[(*activations)[1].target].layer, "relu");
  EXPECT_EQ((*activations)[1].element, 1);

  auto ber = resolve_text("Injection,Layer,TensorIndex,Bit,Model,Value\n0,conv1,,,ber,1e-6\n");
  ASSERT_TRUE(ber.is_ok()) << ber.status().message();
  EXPECT_EQ((*ber)[0].element, -1);
}

TEST(FaultList, ResolutionErrorsNameTheLine) {
  EXPECT_EQ(resolve_error(kHeader + "0,conv1,\"(1, 2, 0, 1)\",31\n1,layer9.conv1,\"(1, 2, 0, 1)\",3\n"),
            "faults.csv:3: no weight 'layer9.conv1' in the model (a canonical layer name like 'layer1.0.conv1' or a "
            "parameter name; `faultline layers` lists them)");
  EXPECT_EQ(resolve_error(kHeader + "0,conv1,\"(1, 2, 0, 1)\",40\n"),
            "faults.csv:2: bit 40 is out of range for float32 (0-31)");
  EXPECT_EQ(resolve_error(kHeader + "0,q,\"(1, 2)\",8\n"), "faults.csv:2: bit 8 is out of range for int8 (0-7)");
  EXPECT_EQ(resolve_error(kHeader + "0,conv1,\"(16, 2, 0, 1)\",3\n"),
            "faults.csv:2: index (16, 2, 0, 1) is out of range for 'conv1' [16, 3, 3, 3] (dimension 0)");
  EXPECT_EQ(resolve_error(kHeader + "0,conv1,\"(1, 2)\",3\n"),
            "faults.csv:2: index (1, 2) has 2 dimensions, 'conv1' [16, 3, 3, 3] has 4");
  EXPECT_EQ(resolve_error(kHeader + "0,conv1,432,3\n"),
            "faults.csv:2: flat index 432 is out of range for 'conv1' [16, 3, 3, 3] (432 elements)");
  EXPECT_EQ(resolve_error("Injection,Layer,TensorIndex,Bit,Model,Mask\n0,q,\"(1, 2)\",,multibit,0x100\n"),
            "faults.csv:2: mask 0x100 has bits out of range for int8 (0-7)");
  EXPECT_EQ(resolve_error("Injection,Layer,TensorIndex,Bit,Target\n0,nowhere,\"(1,)\",3,activation\n"),
            "faults.csv:2: no activation 'nowhere' in the model (a canonical layer name, an ONNX value name or node "
            "name; `faultline layers` lists them)");
  EXPECT_EQ(resolve_error("Injection,Layer,TensorIndex,Bit,Target\n0,conv1,\"(1,)\",3,state\n"),
            "faults.csv:2: no neuron state 'conv1' in the model (<layer>.potential, <layer>.current or the state's "
            "value name)");  // a CNN has no neuron state (spiking models: tests/test_spiking_campaign.cpp)
  // Several bad rows: the first is named, the others counted.
  EXPECT_EQ(resolve_error(kHeader + "0,conv1,\"(1, 2, 0, 1)\",40\n1,conv1,\"(1, 2, 0, 1)\",3\n2,x,\"(1,)\",1\n"
                                    "3,conv1,\"(99, 2, 0, 1)\",3\n"),
            "faults.csv:2: bit 40 is out of range for float32 (0-31) (and 2 more rows with errors)");
}

TEST(FaultList, WritesAtomicallyAndReadsBack) {
  auto list = read_fault_list(testing::test_data(kPublished));
  ASSERT_TRUE(list.is_ok());
  list->entries.resize(10);
  const std::string path = testing::temp_dir() + "/list.csv";
  ASSERT_TRUE(write_fault_list(path, list.value()).is_ok());
  auto back = read_fault_list(path);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  ASSERT_EQ(back->entries.size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(back->entries[i].fault, list->entries[i].fault);
  EXPECT_EQ(back->extra_columns, list->extra_columns);
  auto missing = read_fault_list(testing::temp_dir() + "/missing.csv");
  ASSERT_FALSE(missing.is_ok());
}

// The published list against the model it was made for: every one of the 16,627 rows resolves to a real
// conv/linear weight of the ResNet20 exported with BatchNorm kept.
TEST(FaultList, PublishedListResolvesAgainstResNet20) {
  auto model = load_model(testing::test_data("models/resnet20_bn.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto targets = list_fault_targets(*model.value());
  ASSERT_TRUE(targets.is_ok()) << targets.status().message();
  auto list = read_fault_list(testing::test_data(kPublished));
  ASSERT_TRUE(list.is_ok());
  auto resolved = resolve_fault_list(list.value(), targets.value());
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  ASSERT_EQ(resolved->size(), 16627u);
  for (const ResolvedFault& r : resolved.value()) {
    const FaultTarget& target = targets.value()[r.target];
    const Fault& fault = list->entries[r.entry].fault;
    ASSERT_EQ(target.kind, TargetKind::kWeight);
    ASSERT_EQ(target.name, fault.site.layer + ".weight");
    ASSERT_TRUE(target.op == "Conv" || target.op == "Gemm") << target.op;
    ASSERT_EQ(target.dtype, DType::kFloat32);
    ASSERT_GE(r.element, 0);
    ASSERT_LT(r.element, target.elements);
  }
}

TEST(FaultList, OnnxNodeNamesNameTheSameSitesAsCanonicalNames) {
  // torch.onnx.export names the Conv of module layer1.0.conv1 "/layer1/layer1.0/conv1/Conv" (checked with
  // python3-onnx on tests/data/models/resnet20_bn.onnx); its weight, output and input resolve either way.
  auto model = load_model(testing::test_data("models/resnet20_bn.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto targets = list_fault_targets(*model.value());
  ASSERT_TRUE(targets.is_ok()) << targets.status().message();
  for (SiteTarget kind : {SiteTarget::kWeight, SiteTarget::kActivation, SiteTarget::kInput}) {
    auto by_layer = find_fault_target(*targets, kind, "layer1.0.conv1");
    auto by_node = find_fault_target(*targets, kind, "/layer1/layer1.0/conv1/Conv");
    ASSERT_TRUE(by_layer.is_ok()) << by_layer.status().message();
    ASSERT_TRUE(by_node.is_ok()) << by_node.status().message();
    EXPECT_EQ(*by_layer, *by_node);
  }
  EXPECT_EQ((*targets)[find_fault_target(*targets, SiteTarget::kWeight, "/layer1/layer1.0/conv1/Conv").value()].name,
            "layer1.0.conv1.weight");
  EXPECT_FALSE(find_fault_target(*targets, SiteTarget::kActivation, "/layer9/Conv").is_ok());
}

TEST(FaultList, TransientWeightRowsCarryTheirImage) {
  // A weight fault on one inference (image 3) or one batch: the Batch column parses for weights too; a
  // permanent weight row with a Batch is refused by the replay (tests/test_fault_persistence.cpp).
  auto list = parse_fault_list(
      "Injection,Layer,TensorIndex,Bit,Batch,Persistence\n0,conv1,\"(1, 0, 2, 1)\",30,3,inference\n"
      "1,conv1,\"(1, 0, 2, 1)\",30,3,batch\n",
      "t.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  EXPECT_EQ(list->entries[0].fault.site.batch, 3);
  EXPECT_EQ(list->entries[0].fault.persistence, Persistence::kInference);
  EXPECT_EQ(list->entries[1].fault.persistence, Persistence::kBatch);
  auto back = parse_fault_list(format_fault_list(*list), "t.csv");
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->entries[1].fault, list->entries[1].fault);
}

}  // namespace
}  // namespace faultline
