#include <cstdio>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "faults/campaign_merge.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline merge SHARD_DIR... [--output DIR]\n"
    "\n"
    "Combines the shards of a campaign run with 'faultline run EXPERIMENT.yaml --shard I/N' (the folders\n"
    "`output`/shards/I-of-N) into the files an unsharded run writes: summary.csv (rows in list order),\n"
    "golden.csv, layers.csv, bits.csv, faults.csv, and outputs.h5 when the shards saved outputs.\n"
    "Before writing anything it checks that the shards belong together (same fault list, header and GOLDEN\n"
    "record, same N, every shard 0..N-1 given once and complete, every fault exactly once); an error names the\n"
    "shard and the fault. Every file is written atomically.\n"
    "  --output DIR   where to write (default: the folder that holds the shards' `shards/` folder)\n";
}  // namespace

Status command_merge(int argc, char** argv) {
  FL_ASSIGN_OR_RETURN(Arguments args, Arguments::parse(argc, argv, 2, {{"output"}, {}}));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    return Status::ok();
  }
  if (args.positional().empty()) return invalid_argument("expects the shard folders to merge (see --help)");
  FL_ASSIGN_OR_RETURN(MergeResult result, merge_shards(args.positional(), args.get_or("output", "")));
  std::printf("merged %lld shards, %lld faults%s into %s\n", static_cast<long long>(result.shards),
              static_cast<long long>(result.faults), result.outputs ? " (with outputs.h5)" : "", result.output.c_str());
  return Status::ok();
}

}  // namespace faultline::cli
