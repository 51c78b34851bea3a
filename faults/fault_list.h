// Fault lists: the CSV files of SFIadvancedmodels / tf_injector / dnn-benchmarks, and their resolution
// against a model's fault targets.
//
// Format (one fault per row, header first):
//   Injection,Layer,TensorIndex,Bit
//   0,conv1,"(3, 0, 2, 1)",15
// Layer is a canonical layer name without ".weight" (a parameter name or an ONNX value name also works);
// TensorIndex a Python tuple ("(3, 0, 2, 1)", "(5,)") or a bare integer (a flat row-major offset); Bit 0 is
// the least significant bit. A quoted comma list of bits ("3,5", as SFIadvancedmodels' multiple-fault fork
// writes) is a multibit fault. Optional faultline columns, in any order, matched by header name
// (case-insensitive):
//   Target       weight | activation | input | state | accumulator | product | pe | pattern (default weight);
//                an input site's Layer is its consumer's layer, ":<slot>" added for input slots above 0 (see
//                find_fault_target); the kernel-level targets (faults/kernel_sites.h) name a Conv / Gemm / MatMul
//                layer and read the columns below
//   Mac          accumulator: the MAC index t (0-based), "last" (default: the output before the bias) or
//                "bias" (after the bias); product: the MAC index t (required)
//   Array        pe: the PE array, "16x16" (rows x columns; required); TensorIndex is the PE's "(r, c)"
//   Dataflow     pe: output-stationary (os, default) | weight-stationary (ws)
//   Unit         pe: accumulator (default) | product, the PE register faulted
//   Pattern      pattern: element | row | column | channel | tile (required); TensorIndex is the output element,
//                "(row,)", "(col,)" or "(row, col, rows, cols)"
//   Model        bitflip | multibit | stuck-at-0 | stuck-at-1 | zero | value | random | ber (default bitflip)
//   Mask         multibit mask, "0x..." or decimal
//   Value        the value of `value`; the probability p of `ber`
//   Step         a timestep or inclusive range "3-5" (spiking models)
//   Batch        the one image a fault hits, by its index in the run's input (default: every image; see
//                faults/fault_injector.h). A weight is shared by every image, so a weight row with a Batch
//                needs Persistence inference or batch (faults/fault_replay.h checks it before running).
//   Persistence  permanent | inference | batch | steps             (default permanent; steps when Step is set)
// Every other column (the result columns n_injections, masked, non_critical, critical of a finished
// campaign, or anything unknown) is kept as text and written back after the fault columns, in its order.
// A list that uses only the four base columns is written back byte for byte.
//
// Errors name the file and the CSV line: "faults.csv:17: bit 40 is out of range for float32 (0-31)".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "faults/fault.h"
#include "faults/fault_targets.h"

namespace faultline {

struct FaultListEntry {
  int64_t injection = 0;  // the Injection column (the row ordinal when the column is absent)
  Fault fault;
  std::vector<std::string> extra;  // one per FaultList::extra_columns
  int64_t line = 0;                // CSV line of the row; 0 for an entry built in memory
};

struct FaultList {
  std::string source;                      // the file, for messages
  std::vector<std::string> input_header;   // the header as read (empty for a list built in memory)
  std::vector<std::string> extra_columns;  // passthrough columns, in file order
  std::vector<FaultListEntry> entries;
};

// Parses CSV text. Checks what can be checked without a model: the header, field counts, names of targets,
// models and persistences, tuple syntax, bit 0..63, a model's required fields. `source` prefixes messages.
Result<FaultList> parse_fault_list(std::string_view text, const std::string& source);
// Reads and parses a file; messages start with `path`.
Result<FaultList> read_fault_list(const std::string& path);

// The CSV text: Injection,Layer,TensorIndex,Bit, then each optional column that the input header had or that
// some entry needs (in the order Target, Model, Mask, Value, Step, Batch, Persistence, Mac, Array, Dataflow, Unit,
// Pattern), then the extra columns. Numbers are written in their shortest exact form.
std::string format_fault_list(const FaultList& list);
// Writes format_fault_list atomically (engine/file_io.h).
Status write_fault_list(const std::string& path, const FaultList& list);

// "<source>:<line>" for an entry, "<source>: fault #<i>" for one built in memory.
std::string fault_list_location(const FaultList& list, size_t entry);

// The target a site's layer names, among `targets` (list_fault_targets order):
//   weight: the parameter with exactly that name ("layer1.0.bn1.running_var"); else the parameter named
//     layer + ".weight" ("layer1.0.conv1" -> "layer1.0.conv1.weight"); else the first parameter of the layer
//     with that canonical name (the weight of a Conv/Gemm whose initializers have generated names); else the
//     first parameter of the node with that ONNX node name.
//   activation: the output whose canonical layer name ("layer1.0.relu", "split:1"), ONNX value name, or
//     ONNX node name ("/layer1/layer1.0/relu/Relu") is `layer`.
//   input: one consumer's copy of a value (faults/fault_targets.h): the consumer's canonical layer name for
//     input slot 0 ("layer1.0.add", also "layer1.0.add:0"), "<layer>:<slot>" for another slot
//     ("layer1.0.add:1"), or the consumer's ONNX node name likewise ("/layer1/layer1.0/Add:1"); an ONNX value
//     name works when exactly one node reads the value.
//   state: a neuron state, "<layer>.potential" / "<layer>.current" or its value name ("lif1.v").
//   accumulator, product, pe, pattern: the kernel target (a Conv / Gemm / MatMul node) with that node name (the
//     ONNX node name; a Keras layer of several kernels, a SeparableConv2D "sep", has nodes "sep/depthwise" and
//     "sep"), else the first with that canonical layer name, else the one with that output value name.
//   Whatever the kind (input sites excepted), SpikingJET's spiking names resolve to their own target
//   (faults/fault_targets.h, "Spiking sites"): "<layer>.potential" / ".current" (state activations),
//   "<layer>.beta" (the tau parameter), "<layer>.dead" / ".saturated" (the spike output activation); a list
//   without a Target column can therefore name them, as SpikingJET's lists do.
// Returns the index into `targets`; kNotFound names the layer.
// Dead and saturated neurons: a row whose Layer ends in ".dead" / ".saturated" and whose Model is empty is
// Model value with Value 0 / 1 (the neuron's output spikes stuck at 0 / 1; no Bit), written back as such.
// Returns that value, or nullopt for another layer.
std::optional<double> stuck_spike_value(std::string_view layer);

Result<size_t> find_fault_target(const std::vector<FaultTarget>& targets, SiteTarget kind, std::string_view layer);

struct ResolvedFault {
  size_t entry = 0;      // index into FaultList::entries
  size_t target = 0;     // index into the targets
  int64_t element = -1;  // row-major element offset in the target's shape (the model's order; per image for
                         // activations and inputs); -1 for ber
};

// The row-major element offset of the site's index over target.shape (a flat index taken as is), checking rank and
// bounds; errors name the layer and the shape.
Result<int64_t> site_element(const FaultSite& site, const FaultTarget& target);

// Checks one fault against its target (index rank and bounds, bit / mask against the dtype width, value
// convertible) and returns the element offset (-1 for ber). Messages have no location prefix.
Result<int64_t> check_fault_against_target(const Fault& fault, const FaultTarget& target);

// Resolves every entry. On failure the message is the first bad row's "<source>:<line>: what is wrong",
// followed by " (and N more rows with errors)" when there are more.
Result<std::vector<ResolvedFault>> resolve_fault_list(const FaultList& list, const std::vector<FaultTarget>& targets);

}  // namespace faultline
