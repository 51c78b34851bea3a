// Reads a NIR file (HDF5, as neuromorphs/NIR `nir.write` stores it) into plain structs, without interpreting
// node types: frontends/nir/nir_import.h turns them into an engine Graph.
//
// Layout read: the root group `node` is a NIRGraph: `node/type` = "NIRGraph", `node/nodes/<name>/...` one
// group per node (names may contain dots), `node/edges` a [E, 2] string dataset of (source, target) pairs
// in any order. A node group holds `type` (a string dataset) and one dataset per field; a nested NIRGraph
// node has `nodes` and `edges` of its own. Strings may be variable- or fixed-length; numeric datasets of any
// integer or float type, compressed (gzip) or not, are read through the HDF5 library's own conversion. A field
// stored as a group (NIR >= 1.0 writes `input_type` as a group of one dataset) is kept as "<field>/<name>".
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline::nir {

struct NirNode {
  std::string name;  // its key under `nodes` ("" for the root graph)
  std::string type;  // "LIF", "Affine", "NIRGraph", ...
  // Numeric fields: floats as float64, integers as int64, in the dataset's shape (a scalar is rank 0).
  std::map<std::string, Tensor> arrays;
  // String fields other than `type` (a Conv's padding "same" / "valid"); a string array joined by ','.
  std::map<std::string, std::string> strings;
  // NIRGraph nodes: the nodes in name order, and the edges as stored.
  std::vector<NirNode> nodes;
  std::vector<std::pair<std::string, std::string>> edges;
};

// The root NIRGraph of `path`. Errors name the file and the dataset or group at fault (not an HDF5 file, no
// `node` group, a node without `type`, edges that are not (source, target) string pairs).
Result<NirNode> read_nir_file(const std::string& path);

}  // namespace faultline::nir
