// Kernel-level fault sites: faults inside the arithmetic of a Conv, Gemm or MatMul, and output patterns of its
// GEMM view (issue #8; the fault models of FIdelity-style and systolic-array studies).
//
// The GEMM view (kernels/reference/fault_aware_mac.h): per image, a node computes O[rows x cols] with K MACs
// per output element. Conv: row = output pixel oh * OW + ow, col = output channel, MAC t = (ic * KH + kh) * KW
// + kw; Gemm: one row, col = output feature; MatMul: rows = A's middle dimensions. The mapping is per image
// (an accelerator runs one image at a time); every image of a run gets the fault, or only the Batch image.
//
// Sites (FaultSite::target, FaultSite::kernel, FaultSite::index):
//   accumulator  index = one output element (the model's order, per image, as an activation index);
//                mac = t: the partial sum right after MAC t is faulted; last: after MAC K-1 (the output before
//                the bias); bias: after the bias is added (the kernel's output, as an activation fault there)
//   product      index = one output element; mac = t: the product of MAC t is faulted before it is added
//   pe           index = (r, c) of a processing element of an R x C array (KernelSite::array), every write of
//                its unit (accumulator or product register) faulted, for every computation the dataflow maps
//                to it:
//                  output-stationary  the outputs (row, col) with row % R == r and col % C == c, every MAC
//                  weight-stationary  the MACs t % R == r of every output with col % C == c (all rows): the
//                                     weights W[t][col] the PE holds
//                A PE the layer does not use (r >= rows for output-stationary, r >= K for weight-stationary,
//                c >= cols) corrupts nothing: its faults are masked.
//   pattern      faults the kernel's output (after the bias) on every backend, no MAC arithmetic: element
//                (index = one output element), row (index = (row,): every column of that GEMM row), column and
//                channel (index = (col,): every row of that column; for Conv and Gemm the column is the output
//                channel), tile (index = (row, col, rows, cols): that rectangle); a bare integer (a list's flat
//                index) is accepted for (row,) and (col,)
// The word fault (bit flip, multibit, stuck-at, zero, value, random; not ber) is applied to the float32 word
// as for any other site (faults/bit_ops.h); stuck-at on a PE register holds at every write.
//
// Integer ops (ConvInteger, QLinearConv: the conv view; MatMulInteger, QLinearMatMul: the MatMul view; MAC t
// numbered as for float32, padded taps included). The arithmetic sites (accumulator, product, pe) act on int32
// words (bits 0-31, bit 31 the sign): the centred product (x - x_zp) * (w - w_zp) of MAC t, the int32 partial
// sum after MAC t (last: before the bias and the requantization), `bias`: the int32 sum after QLinearConv's
// bias B is added, before the requantization (the int32 output for ConvInteger / MatMulInteger). The faulted
// sum then goes through the op's own requantization (kernels/reference/fault_aware_mac.h). Pattern sites act on
// the op's output words: int8 / uint8 (bits 0-7) for QLinearConv / QLinearMatMul, int32 (bits 0-31) for
// ConvInteger / MatMulInteger. A bit outside the word is an error naming the layer, its op and the word.
//
// Executing (faults/kernel_fault_hook.h): the faulted node runs on the model's backend as usual; then the
// elements of the footprint are recomputed MAC by MAC with the fault-aware reference arithmetic, and each one
// whose faulty bits differ from the fault-free arithmetic's is written into the node's output. The rest of
// the network stays on the fast backend; a fault that changes no arithmetic result changes nothing (masked).
// Pattern faults are applied to the output words directly.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/graph.h"
#include "engine/status.h"
#include "faults/bit_ops.h"
#include "faults/fault.h"
#include "faults/fault_targets.h"
#include "kernels/reference/fault_aware_mac.h"

namespace faultline {

// The kernel target of `node` in `graph` (specialized for one image), or nullopt when the node is not a float32
// Conv (2-D) / Gemm / MatMul or an integer op (int8/uint8 data and weights) that MacKernel supports. Its shape is
// the output's per image in the engine's order; list_fault_targets() puts it in the model's order
// (FaultTarget::model_axes), as for an activation. Its dtype is the output's (float32, int8, uint8 or int32).
std::optional<FaultTarget> kernel_target(const Graph& graph, NodeId node);

// Checks a kernel-level fault against its target (index, MAC and array bounds, the word model against
// kernel_word_dtype()) and returns
// the element offset (the model's order, per image) of an element site (accumulator, product, pattern element),
// -1 for the others. Messages have no location prefix.
Result<int64_t> check_kernel_fault(const Fault& fault, const FaultTarget& target);

// The word a kernel-level site faults: pattern sites the output word (the target's dtype), the arithmetic sites
// float32 for Conv / Gemm / MatMul and int32 for the integer ops.
DType kernel_word_dtype(const FaultTarget& target, SiteTarget site);
// The word transformation of a word fault on words of `dtype` (32 bits or fewer; validated fault assumed):
// faults/bit_ops.h word_masks, truncated to 32 bits.
WordTransform32 word_transform32(DType dtype, const WordFault& fault);
WordTransform32 float32_transform(const WordFault& fault);  // word_transform32(kFloat32, fault)
// word_transform32 of the word kernel_word_dtype(target, site).
WordTransform32 kernel_word_transform(const FaultTarget& target, SiteTarget site, const WordFault& fault);

// What one fault does to one image of the node's output.
struct KernelFootprint {
  std::vector<int64_t> offsets;  // per-image engine offsets of the output elements it may change, ascending
  bool arithmetic = false;       // recompute them with `faults` (accumulator, product, pe); else apply `word`
  MacFaults faults;              // the MAC schedule and word (arithmetic sites)
  WordTransform32 word;          // the word fault
};

// The footprint of `fault` (resolved to `element`, checked) on the kernel `kernel` of its target's node.
KernelFootprint kernel_footprint(const Fault& fault, int64_t element, const FaultTarget& target,
                                 const MacKernel& kernel, const WordTransform32& word);

// The fault space positions of a kernel target for generated lists (faults/fault_generator.h): the shape whose
// row-major indexes enumerate the sites, and the site of one index.
//   accumulator / product: [output shape..., K] (the last index is the MAC)
//   pe: [R, C]; pattern element: the output shape; row: [rows]; column / channel: [cols];
//   tile: [ceil(rows / tile_rows), ceil(cols / tile_cols)] tiles of that size (clipped at the edges)
struct KernelSpace {
  SiteTarget target = SiteTarget::kPe;
  KernelSite kernel;
  int64_t tile_rows = 0;
  int64_t tile_cols = 0;
};
Result<Shape> kernel_space_shape(const FaultTarget& target, const KernelSpace& space);
void set_kernel_site(const FaultTarget& target, const KernelSpace& space, const std::vector<int64_t>& position,
                     FaultSite& site);

}  // namespace faultline
