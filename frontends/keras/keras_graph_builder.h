// A Keras model (its parsed config and its weights) as an engine Graph.
//
// Layouts. The engine computes in NCHW with OIHW conv weights; Keras in NHWC with HWIO kernels. The graph input
// is the Keras input as Keras shapes it ([N, H, W, C]) and a Transpose to NCHW follows it; every 4-D Keras
// tensor is NCHW inside the graph; a 4-D model output is transposed back, so users feed and read Keras layouts.
// Flatten and Reshape of a 4-D tensor see it channels-last, as Keras does (a Transpose to NHWC comes first).
// Conv kernels are stored transposed to OIHW (a DepthwiseConv2D kernel [kh, kw, in, m] as [in*m, 1, kh, kw]),
// Dense kernels as stored ((in, out), Gemm with trans_b = 0).
//
// Names. Every node of a layer call carries the Keras layer name as `layer`, "<name>@<k>" for call k >= 1 of
// a layer called several times (its weights are shared). The node doing the layer's work is named as the
// layer; helper nodes are "<layer>/<role>" (conv2d/Relu, flatten/to_nhwc, input_1/to_nchw). A value is named
// after its node plus ":0"; the graph input after its InputLayer. Parameters keep the Keras weight names: the
// .h5 weight_names ("conv2d/kernel:0"); a .keras file numbers its variables, which get the same tf.keras form
// "<layer>/<variable>:0" (Keras 3's variable path plus ":0"), so one fault list serves both files of a model.
//
// Fault-site order (engine/graph.h Value::model_axes): conv kernels carry HWIO (model_axes {2, 3, 1, 0}), and
// every NCHW activation NHWC ({0, 2, 3, 1}), so fault sites are listed and indexed in Keras order.
// Values passed between nodes of one layer (a Conv2D's pre-activation sum, a layout Transpose) are not fault
// sites of their own: faults/fault_targets.h lists one activation per layer.
//
// Layers: InputLayer, Conv2D (groups, dilation, same/valid), DepthwiseConv2D, SeparableConv2D, Dense (2-D
// input), BatchNormalization (last axis; center/scale off), Activation, ReLU (max_value, negative_slope),
// LeakyReLU, Softmax, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D / GlobalMaxPooling2D (keepdims),
// Flatten, Dropout / SpatialDropout2D (nothing), ZeroPadding2D, Reshape, Add, Subtract, Multiply, Concatenate.
// Activations (fused or Activation): linear, relu, relu6, tanh, sigmoid, softmax, swish / silu.
// channels_first data_format is refused.
//
// Errors: "layer 'conv2d' (Conv2D): <what>" for an unsupported class, activation or option, a missing weight or
// a weight whose shape does not fit the config; the caller adds the file in front.
#pragma once

#include "engine/graph.h"
#include "engine/status.h"
#include "frontends/keras/keras_config.h"
#include "frontends/keras/keras_file.h"

namespace faultline::keras {

Result<Graph> build_keras_graph(const ModelSpec& model, const KerasFile& file);

}  // namespace faultline::keras
