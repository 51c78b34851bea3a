// The faultline subcommands. Each returns the process exit code; errors are printed as one line
// "faultline <command>: <message>" on stderr by run_command().
#pragma once

#include <string>

#include "engine/status.h"

namespace faultline::cli {

Status command_layers(int argc, char** argv);
Status command_infer(int argc, char** argv);
Status command_bench(int argc, char** argv);
Status command_compare(int argc, char** argv);
Status command_run(int argc, char** argv);
Status command_merge(int argc, char** argv);
Status command_inject(int argc, char** argv);
Status command_faults(int argc, char** argv);
Status command_simulate(int argc, char** argv);

}  // namespace faultline::cli
