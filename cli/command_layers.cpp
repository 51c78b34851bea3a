#include <cstdio>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline layers MODEL [--kind weight|activation|input|kernel|all] [--csv]\n"
    "\n"
    "Lists every weight and every activation a fault can target: the canonical layer name (use it in fault\n"
    "lists and YAML), the model's own value name, the op, the shape (activations: per image), the dtype and\n"
    "the element count. With --kind input, lists instead every input site (one consumer's copy of a value):\n"
    "layer is the consumer's layer, with ':<slot>' for input slots above 0; name is the value read.\n"
    "With --kind kernel, lists the Conv / Gemm / MatMul layers that kernel-level sites (accumulator, product,\n"
    "pe, pattern) fault: the output shape per image, the GEMM view per image (rows x columns: output pixels x\n"
    "channels for a Conv) and the multiply-accumulates per output element.\n"
    "  --kind K   weight, activation, input, kernel, or all (default: weights and activations; inputs and\n"
    "             kernels only when asked)\n"
    "  --csv      machine-readable CSV instead of a table\n";
}  // namespace

Status command_layers(int argc, char** argv) {
  FL_ASSIGN_OR_RETURN(Arguments args, Arguments::parse(argc, argv, 2, {{"kind"}, {"csv"}}));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    return Status::ok();
  }
  if (args.positional().size() != 1) return invalid_argument("expects one MODEL argument (see --help)");
  const std::string kind = args.get_or("kind", "all");
  if (kind != "all" && kind != "weight" && kind != "activation" && kind != "input" && kind != "kernel")
    return invalid_argument("option --kind: '" + kind + "' is not weight, activation, input, kernel or all");

  FL_ASSIGN_OR_RETURN(auto model, load_model(args.positional()[0]));
  FL_ASSIGN_OR_RETURN(std::vector<FaultTarget> targets, list_fault_targets(*model));

  const bool csv = args.flag("csv");
  if (kind == "kernel") {
    if (csv) std::printf("kind,layer,node,op,shape,gemm_rows,gemm_cols,macs\n");
    else std::printf("%-10s %-28s %-40s %-8s %-18s %-12s %8s\n", "kind", "layer", "node", "op", "shape", "gemm", "macs");
    for (const FaultTarget& t : targets) {
      if (t.kind != TargetKind::kKernel) continue;
      const std::string shape = shape_to_string(t.shape);
      const std::string gemm = std::to_string(t.gemm_rows) + "x" + std::to_string(t.gemm_cols);
      if (csv)
        std::printf("kernel,%s,%s,%s,\"%s\",%lld,%lld,%lld\n", t.layer.c_str(), t.node.c_str(), t.op.c_str(),
                    shape.c_str(), static_cast<long long>(t.gemm_rows), static_cast<long long>(t.gemm_cols),
                    static_cast<long long>(t.macs));
      else
        std::printf("%-10s %-28s %-40s %-8s %-18s %-12s %8lld\n", "kernel", t.layer.c_str(), t.node.c_str(),
                    t.op.c_str(), shape.c_str(), gemm.c_str(), static_cast<long long>(t.macs));
    }
    return Status::ok();
  }
  if (csv) std::printf("kind,layer,name,op,shape,dtype,elements\n");
  else std::printf("%-10s %-28s %-40s %-18s %-18s %-8s %10s\n", "kind", "layer", "name", "op", "shape", "dtype", "elements");
  int64_t weight_total = 0, activation_total = 0, input_total = 0;
  for (const FaultTarget& t : targets) {
    if (t.kind == TargetKind::kKernel) continue;
    const bool is_weight = t.kind == TargetKind::kWeight;
    const bool is_input = t.kind == TargetKind::kInput;
    if (is_input ? kind != "input" : (kind == "input" || (kind == "weight" && !is_weight) ||
                                      (kind == "activation" && is_weight)))
      continue;
    (is_weight ? weight_total : is_input ? input_total : activation_total) += t.elements;
    const char* kind_name = is_weight ? "weight" : is_input ? "input" : "activation";
    const std::string shape = shape_to_string(t.shape);
    const std::string dtype(dtype_name(t.dtype));
    if (csv)
      std::printf("%s,%s,%s,%s,\"%s\",%s,%lld\n", kind_name, t.layer.c_str(), t.name.c_str(), t.op.c_str(),
                  shape.c_str(), dtype.c_str(), static_cast<long long>(t.elements));
    else
      std::printf("%-10s %-28s %-40s %-18s %-18s %-8s %10lld\n", kind_name, t.layer.c_str(), t.name.c_str(),
                  t.op.c_str(), shape.c_str(), dtype.c_str(), static_cast<long long>(t.elements));
  }
  if (!csv && kind == "input") {
    std::printf("\n%lld input elements per image\n", static_cast<long long>(input_total));
    return Status::ok();
  }
  if (!csv && kind != "activation") std::printf("\n%lld weight elements\n", static_cast<long long>(weight_total));
  if (!csv && kind != "weight")
    std::printf("%s%lld activation elements per image\n", kind == "all" ? "" : "\n",
                static_cast<long long>(activation_total));
  return Status::ok();
}

}  // namespace faultline::cli
