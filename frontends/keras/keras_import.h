// Keras frontend: a legacy full-model .h5 (tf.keras 2.x) or a Keras 3 .keras archive as a faultline Graph.
// What is read: frontends/keras/keras_file.h (the containers), keras_config.h (Sequential and Functional
// configs of both schemas), keras_graph_builder.h (layers, layouts, names and fault-site order).
// Errors are one line naming the file and, where there is one, the Keras layer:
//   "model.h5: layer 'dense' (Dense): weight 'dense/kernel:0' has shape [256, 120], expected [inputs, 84]".
// A shape that does not fit the layer before it is found at import (the graph is specialized once for one
// image), naming the layer's node.
#pragma once

#include <string>

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

// `path` ending in .keras is read as a zip archive, anything else as HDF5.
Result<Graph> import_keras_file(const std::string& path);

}  // namespace faultline
