#include "faults/kernel_sites.h"

#include <algorithm>
#include <cstring>

#include "engine/op_kind.h"
#include "faults/fault_list.h"

namespace faultline {

namespace {

Shape per_image(const Shape& shape) { return Shape(shape.begin() + (shape.empty() ? 0 : 1), shape.end()); }

// A bare integer (a flat index) is the one entry of a (row,) / (col,) index.
Status check_index_size(const FaultSite& site, size_t size, const std::string& expected) {
  if (site.index.size() != size) {
    const bool flat = site.flat_index && site.index.size() == 1;
    std::string what(site_target_name(site.target));
    if (site.target == SiteTarget::kPattern) what.append(" ").append(output_pattern_name(site.kernel.pattern));
    return invalid_argument("index " + (flat ? std::to_string(site.index[0]) : index_to_string(site.index)) + " of a " +
                            what + " site must be " + expected);
  }
  for (int64_t i : site.index)
    if (i < 0) return out_of_range("index " + index_to_string(site.index) + " has a negative entry");
  return Status::ok();
}

}  // namespace

std::optional<FaultTarget> kernel_target(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  const bool integer = node.op == OpKind::kConvInteger || node.op == OpKind::kMatMulInteger ||
                       node.op == OpKind::kQLinearConv || node.op == OpKind::kQLinearMatMul;
  if (node.op != OpKind::kConv && node.op != OpKind::kGemm && node.op != OpKind::kMatMul && !integer)
    return std::nullopt;
  if (node.outputs.size() != 1) return std::nullopt;
  const Value& out = graph.value(node.outputs[0]);
  std::vector<Shape> shapes;
  for (ValueId in : node.inputs) {
    if (!integer && in != kNoValue && graph.value(in).dtype != DType::kFloat32) return std::nullopt;
    shapes.push_back(in == kNoValue ? Shape{} : graph.value(in).shape);
  }
  if (integer) {  // int8/uint8 data and weights (the kernel checks the rest when it runs)
    const size_t weight = node.op == OpKind::kQLinearConv || node.op == OpKind::kQLinearMatMul ? 3 : 1;
    for (size_t slot : {size_t{0}, weight}) {
      const DType dtype = graph.value(node.inputs[slot]).dtype;
      if (dtype != DType::kInt8 && dtype != DType::kUInt8) return std::nullopt;
    }
    const bool qlinear = weight == 3;
    if (qlinear ? out.dtype != DType::kInt8 && out.dtype != DType::kUInt8 : out.dtype != DType::kInt32)
      return std::nullopt;
  } else if (out.dtype != DType::kFloat32) {
    return std::nullopt;
  }
  auto kernel = MacKernel::create(node, shapes, out.shape);
  if (!kernel.is_ok()) return std::nullopt;
  FaultTarget target{TargetKind::kKernel, node.layer, out.name, std::string(op_name(node.op)), per_image(out.shape),
                     out.dtype, numel(per_image(out.shape)), node.name};
  target.gemm_rows = kernel->rows();
  target.gemm_cols = kernel->cols();
  target.macs = kernel->macs();
  for (ValueId in : node.inputs)
    if (in != kNoValue && !graph.value(in).is_constant()) target.kernel_inputs.push_back(graph.value(in).name);
  return target;
}

Result<int64_t> check_kernel_fault(const Fault& fault, const FaultTarget& target) {
  const FaultSite& site = fault.site;
  if (target.kind != TargetKind::kKernel)
    return invalid_argument("'" + site.layer + "' is not a Conv, Gemm, MatMul or integer Conv / MatMul");
  if (!fault_model_is_word_fault(fault.model)) {
    return invalid_argument("ber is not a kernel-level fault model (use bitflip, multibit, stuck-at, zero, value or "
                            "random)");
  }
  if (site.steps) return invalid_argument("kernel-level sites take no Step (timesteps are for spiking models)");
  const DType word = kernel_word_dtype(target, site.target);
  if (Status valid = validate_word_fault(word, word_fault_of(fault)); !valid.is_ok()) {
    const bool output_word = site.target == SiteTarget::kPattern;
    return Status::error(valid.code(), "the " + std::string(output_word ? "output" : "arithmetic") + " words of '" +
                                    site.layer + "' (" + target.op + ") are " + std::string(dtype_name(word)) + ": " +
                                    valid.message());
  }
  const std::string gemm = std::to_string(target.gemm_rows) + " rows x " + std::to_string(target.gemm_cols) +
                           " columns";
  switch (site.target) {
    case SiteTarget::kAccumulator:
    case SiteTarget::kProduct: {
      const int64_t mac = site.kernel.mac;
      const bool special = site.target == SiteTarget::kAccumulator && (mac == kMacLast || mac == kMacBias);
      if (!special && (mac < 0 || mac >= target.macs)) {
        return out_of_range("Mac " + mac_to_string(mac) + " is out of range for '" + site.layer + "' (" +
                            std::to_string(target.macs) + " MACs per output, 0-" + std::to_string(target.macs - 1) +
                            (site.target == SiteTarget::kAccumulator ? ", last or bias" : "") + ")");
      }
      return site_element(site, target);
    }
    case SiteTarget::kPe: {
      const PeArray& array = site.kernel.array;
      if (array.rows < 1 || array.cols < 1) return invalid_argument("a pe site needs an Array (e.g. 16x16)");
      FL_RETURN_IF_ERROR(check_index_size(site, 2, "(row, column) of a processing element"));
      if (site.index[0] >= array.rows || site.index[1] >= array.cols) {
        return out_of_range("PE " + index_to_string(site.index) + " is outside the " + array_to_string(array) +
                            " array");
      }
      return int64_t{-1};
    }
    case SiteTarget::kPattern:
      switch (site.kernel.pattern) {
        case OutputPattern::kElement:
          return site_element(site, target);
        case OutputPattern::kRow:
          FL_RETURN_IF_ERROR(check_index_size(site, 1, "(row,)"));
          if (site.index[0] >= target.gemm_rows)
            return out_of_range("row " + std::to_string(site.index[0]) + " is outside '" + site.layer + "' (" + gemm + ")");
          return int64_t{-1};
        case OutputPattern::kColumn:
        case OutputPattern::kChannel:
          FL_RETURN_IF_ERROR(check_index_size(site, 1, "(column,)"));
          if (site.index[0] >= target.gemm_cols) {
            return out_of_range(std::string(output_pattern_name(site.kernel.pattern)) + " " +
                                std::to_string(site.index[0]) + " is outside '" + site.layer + "' (" + gemm + ")");
          }
          return int64_t{-1};
        case OutputPattern::kTile: {
          FL_RETURN_IF_ERROR(check_index_size(site, 4, "(row, column, rows, columns)"));
          const auto& i = site.index;
          if (i[2] < 1 || i[3] < 1 || i[0] + i[2] > target.gemm_rows || i[1] + i[3] > target.gemm_cols) {
            return out_of_range("tile " + index_to_string(i) + " is empty or outside '" + site.layer + "' (" + gemm + ")");
          }
          return int64_t{-1};
        }
        case OutputPattern::kCount:
          break;
      }
      break;
    default:
      break;
  }
  return invalid_argument(std::string(site_target_name(site.target)) + " is not a kernel-level site");
}

DType kernel_word_dtype(const FaultTarget& target, SiteTarget site) {
  if (site == SiteTarget::kPattern || target.dtype == DType::kFloat32) return target.dtype;
  return DType::kInt32;  // the integer ops' accumulators and products
}

WordTransform32 kernel_word_transform(const FaultTarget& target, SiteTarget site, const WordFault& fault) {
  return word_transform32(kernel_word_dtype(target, site), fault);
}

WordTransform32 float32_transform(const WordFault& fault) { return word_transform32(DType::kFloat32, fault); }

WordTransform32 word_transform32(DType dtype, const WordFault& fault) {
  const WordMasks masks = word_masks(dtype, fault);
  WordTransform32 word;
  word.keep = static_cast<uint32_t>(masks.keep);
  word.set = static_cast<uint32_t>(masks.set);
  word.flip = static_cast<uint32_t>(masks.flip);
  return word;
}

KernelFootprint kernel_footprint(const Fault& fault, int64_t element, const FaultTarget& target,
                                 const MacKernel& kernel, const WordTransform32& word) {
  const FaultSite& site = fault.site;
  KernelFootprint footprint;
  footprint.word = word;
  footprint.faults.word = word;
  const int64_t rows = kernel.rows();
  const int64_t cols = kernel.cols();
  const int64_t macs = kernel.macs();
  auto add = [&](int64_t row, int64_t col) { footprint.offsets.push_back(kernel.offset(row, col)); };
  auto add_element = [&] {
    footprint.offsets.push_back(engine_element(target, element));
  };
  switch (site.target) {
    case SiteTarget::kAccumulator:
      footprint.arithmetic = true;
      if (site.kernel.mac == kMacBias) {
        footprint.faults.after_bias = true;
      } else {
        const int64_t t = site.kernel.mac == kMacLast ? macs - 1 : site.kernel.mac;
        footprint.faults.accumulator = {t, macs};
      }
      add_element();
      break;
    case SiteTarget::kProduct:
      footprint.arithmetic = true;
      footprint.faults.product = {site.kernel.mac, macs};
      add_element();
      break;
    case SiteTarget::kPe: {
      footprint.arithmetic = true;
      const PeArray& array = site.kernel.array;
      const int64_t r = site.index[0];
      const int64_t c = site.index[1];
      const bool output_stationary = array.dataflow == Dataflow::kOutputStationary;
      const MacSchedule schedule = output_stationary ? MacSchedule{0, 1} : MacSchedule{r, array.rows};
      (array.unit == PeUnit::kProduct ? footprint.faults.product : footprint.faults.accumulator) = schedule;
      if (!output_stationary && r >= macs) break;  // the PE holds no weight of this layer
      for (int64_t col = c; col < cols; col += array.cols) {
        if (output_stationary) {
          for (int64_t row = r; row < rows; row += array.rows) add(row, col);
        } else {
          for (int64_t row = 0; row < rows; ++row) add(row, col);
        }
      }
      break;
    }
    case SiteTarget::kPattern:
      switch (site.kernel.pattern) {
        case OutputPattern::kElement:
          add_element();
          break;
        case OutputPattern::kRow:
          for (int64_t col = 0; col < cols; ++col) add(site.index[0], col);
          break;
        case OutputPattern::kColumn:
        case OutputPattern::kChannel:
          for (int64_t row = 0; row < rows; ++row) add(row, site.index[0]);
          break;
        case OutputPattern::kTile:
          for (int64_t row = site.index[0]; row < site.index[0] + site.index[2]; ++row)
            for (int64_t col = site.index[1]; col < site.index[1] + site.index[3]; ++col) add(row, col);
          break;
        case OutputPattern::kCount:
          break;
      }
      break;
    default:
      break;
  }
  std::sort(footprint.offsets.begin(), footprint.offsets.end());
  return footprint;
}

Result<Shape> kernel_space_shape(const FaultTarget& target, const KernelSpace& space) {
  switch (space.target) {
    case SiteTarget::kAccumulator:
    case SiteTarget::kProduct: {
      Shape shape = target.shape;
      shape.push_back(target.macs);
      return shape;
    }
    case SiteTarget::kPe:
      if (space.kernel.array.rows < 1 || space.kernel.array.cols < 1)
        return invalid_argument("a pe campaign needs an array size (rows and cols >= 1)");
      return Shape{space.kernel.array.rows, space.kernel.array.cols};
    case SiteTarget::kPattern:
      switch (space.kernel.pattern) {
        case OutputPattern::kElement:
          return target.shape;
        case OutputPattern::kRow:
          return Shape{target.gemm_rows};
        case OutputPattern::kColumn:
        case OutputPattern::kChannel:
          return Shape{target.gemm_cols};
        case OutputPattern::kTile:
          if (space.tile_rows < 1 || space.tile_cols < 1)
            return invalid_argument("a tile pattern campaign needs a tile size (rows and cols >= 1)");
          return Shape{(target.gemm_rows + space.tile_rows - 1) / space.tile_rows,
                       (target.gemm_cols + space.tile_cols - 1) / space.tile_cols};
        case OutputPattern::kCount:
          break;
      }
      break;
    default:
      break;
  }
  return invalid_argument(std::string(site_target_name(space.target)) + " is not a kernel-level site");
}

void set_kernel_site(const FaultTarget& target, const KernelSpace& space, const std::vector<int64_t>& position,
                     FaultSite& site) {
  site.target = space.target;
  site.kernel = space.kernel;
  site.index = position;
  site.flat_index = false;
  if (space.target == SiteTarget::kAccumulator || space.target == SiteTarget::kProduct) {
    site.kernel.mac = position.back();
    site.index.pop_back();
  } else if (space.target == SiteTarget::kPattern && space.kernel.pattern == OutputPattern::kTile) {
    const int64_t row = position[0] * space.tile_rows;
    const int64_t col = position[1] * space.tile_cols;
    site.index = {row, col, std::min(space.tile_rows, target.gemm_rows - row),
                  std::min(space.tile_cols, target.gemm_cols - col)};
  }
}

}  // namespace faultline
