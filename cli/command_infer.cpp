#include <algorithm>
#include <cstdio>
#include <numeric>
#include <vector>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/session_options.h"
#include "engine/npy.h"
#include "frontends/load_model.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline infer MODEL --input X.npy --output Y.npy [options]\n"
    "\n"
    "Runs MODEL on every image of X.npy (float32, C order, images first: N x C x H x W for ONNX models) and\n"
    "writes the model's first output, images first, to Y.npy (float32). Y.npy is written only when the whole\n"
    "run succeeded.\n"
    "  --input X.npy    input array\n"
    "  --output Y.npy   output array\n"
    "  --top K          also print each image's K highest-scoring classes\n";

// "image 3: 7 (12.41)  1 (3.02)" per image, classes by descending score.
void print_top_classes(const Tensor& output, int64_t top) {
  // An int8 model's first output may be its quantized scores: ranked by value, as float32.
  const Tensor scores = output.dtype() == DType::kFloat32 ? output : output.cast(DType::kFloat32);
  const int64_t images = scores.rank() > 0 ? scores.dim(0) : 1;
  const int64_t classes = images ? scores.numel() / images : 0;
  for (int64_t i = 0; i < images; ++i) {
    const float* row = scores.data<float>() + i * classes;
    std::vector<int64_t> order(static_cast<size_t>(classes));
    std::iota(order.begin(), order.end(), 0);
    const int64_t k = std::min(top, classes);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
    std::printf("image %lld:", static_cast<long long>(i));
    for (int64_t j = 0; j < k; ++j) std::printf("  %lld (%.4g)", static_cast<long long>(order[j]), row[order[j]]);
    std::printf("\n");
  }
}
}  // namespace

Status command_infer(int argc, char** argv) {
  FL_ASSIGN_OR_RETURN(Arguments args,
                      Arguments::parse(argc, argv, 2, with_session_options({{"input", "output", "top"}, {}})));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    std::printf(kSessionOptionsHelp, 100LL);
    return Status::ok();
  }
  if (args.positional().size() != 1) return invalid_argument("expects one MODEL argument (see --help)");
  auto input_path = args.get("input");
  auto output_path = args.get("output");
  if (!input_path) return invalid_argument("option --input is required");
  if (!output_path) return invalid_argument("option --output is required");
  FL_ASSIGN_OR_RETURN(SessionOptions options, session_options_from(args, 100));
  FL_ASSIGN_OR_RETURN(int64_t top, args.get_int("top", 0, 0, 1000));

  FL_ASSIGN_OR_RETURN(auto model, load_model(args.positional()[0]));
  if (model->inputs().size() != 1)
    return unsupported(model->source + ": infer takes models with one input; this one has " +
                       std::to_string(model->inputs().size()));
  FL_ASSIGN_OR_RETURN(Tensor input, read_npy(*input_path));
  FL_ASSIGN_OR_RETURN(auto session, Session::create(model, options));
  auto outputs = session->run({input});
  if (!outputs.is_ok()) return outputs.status().with_context(*input_path);
  if (outputs->size() > 1)
    std::fprintf(stderr, "faultline infer: note: the model has %zu outputs; writing the first ('%s')\n",
                 outputs->size(), model->value(model->outputs()[0]).name.c_str());
  FL_RETURN_IF_ERROR(write_npy(*output_path, outputs->front()));
  if (top > 0) print_top_classes(outputs->front(), top);
  return Status::ok();
}

}  // namespace faultline::cli
