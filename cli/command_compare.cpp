#include <cmath>
#include <cstdio>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "engine/npy.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline compare EXPECTED.npy ACTUAL.npy [--label TEXT]\n"
    "\n"
    "Compares two output arrays of the same shape (images first): the largest absolute difference, the\n"
    "largest difference relative to EXPECTED's largest magnitude, how many elements are bit-identical, and\n"
    "how many images keep the same top-1 class. Exits non-zero only if the arrays cannot be compared.\n"
    "  --label TEXT   printed before the figures\n";
}  // namespace

Status command_compare(int argc, char** argv) {
  FL_ASSIGN_OR_RETURN(Arguments args, Arguments::parse(argc, argv, 2, {{"label"}, {}}));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    return Status::ok();
  }
  if (args.positional().size() != 2) return invalid_argument("expects EXPECTED.npy and ACTUAL.npy (see --help)");
  FL_ASSIGN_OR_RETURN(Tensor expected, read_npy(args.positional()[0]));
  FL_ASSIGN_OR_RETURN(Tensor actual, read_npy(args.positional()[1]));
  if (expected.shape() != actual.shape())
    return invalid_argument("shapes differ: " + shape_to_string(expected.shape()) + " vs " +
                            shape_to_string(actual.shape()));
  const std::vector<double> a = expected.to_doubles(), b = actual.to_doubles();
  double max_abs = 0, scale = 0;
  int64_t identical = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(a[i]));
    identical += a[i] == b[i];
  }
  const int64_t images = expected.rank() > 0 ? expected.dim(0) : 1;
  const int64_t row = images ? static_cast<int64_t>(a.size()) / images : 0;
  int64_t same_top1 = 0;
  for (int64_t i = 0; i < images && row > 0; ++i) {
    auto argmax = [&](const std::vector<double>& v) {
      int64_t best = 0;
      for (int64_t j = 1; j < row; ++j)
        if (v[i * row + j] > v[i * row + best]) best = j;
      return best;
    };
    same_top1 += argmax(a) == argmax(b);
  }
  std::printf("%s%smax |diff| %.3g (%.3g of max |expected|), %lld/%zu elements identical, top-1 agrees on %lld/%lld images\n",
              args.get_or("label", "").c_str(), args.get("label") ? ": " : "", max_abs, scale > 0 ? max_abs / scale : 0.0,
              static_cast<long long>(identical), a.size(), static_cast<long long>(same_top1),
              static_cast<long long>(images));
  return Status::ok();
}

}  // namespace faultline::cli
