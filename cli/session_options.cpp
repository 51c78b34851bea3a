#include "cli/session_options.h"

#include "engine/weight_storage.h"

namespace faultline::cli {

const char* const kSessionOptionsHelp =
    "  --backend B   reference | onednn | cuda (default onednn)\n"
    "  --batch N     images per executed batch (default %lld); larger inputs are split\n"
    "  --threads T   worker threads (default: all cores)\n"
    "  --no-fuse     disable fused kernels (conv+BN+ReLU, conv+sum)\n"
    "  --weights D   store the weights as float16 | bfloat16 | int8 (per-tensor scale) and fault them in that\n"
    "                format; compute stays float32 (default: the model's own dtypes)\n";

OptionSpec with_session_options(OptionSpec spec) {
  spec.valued.insert({"backend", "batch", "threads", "weights"});
  spec.flags.insert("no-fuse");
  return spec;
}

Result<SessionOptions> session_options_from(const Arguments& args, int64_t default_batch) {
  SessionOptions options;
  options.backend = args.get_or("backend", "onednn");
  FL_ASSIGN_OR_RETURN(options.batch, args.get_int("batch", default_batch, 1, 1 << 20));
  FL_ASSIGN_OR_RETURN(int64_t threads, args.get_int("threads", 0, 0, 1024));
  options.threads = static_cast<int>(threads);
  options.fuse = !args.flag("no-fuse");
  if (auto weights = args.get("weights")) {
    auto dtype = weight_storage_dtype_from_name(*weights);
    if (!dtype.is_ok()) return dtype.status().with_context("option --weights");
    options.weight_dtype = *dtype;
  }
  return options;
}

}  // namespace faultline::cli
