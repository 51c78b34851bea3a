// The "cuda" backend of the faultline command, loaded on first use. The CUDA libraries (cudart, cuBLAS, cuBLASLt,
// cuDNN: about 80 ms and 200 MB of touched pages at every start) are needed only by libfaultline_cuda.so, a
// module built next to the command from the faultline_cuda objects; the command registers a factory that
// dlopens it when a backend named "cuda" is first created, and forwards to the module's make_cuda_backend. The
// module resolves the engine's symbols against the command (which exports them). A CPU run never loads it, and
// a command whose module or CUDA libraries are missing still runs every other backend.
#pragma once

namespace faultline::cli {

// Registers "cuda" (engine/backend.h register_backend) with the loading factory. Errors of a later
// create_backend("cuda") name the module's path and dlerror()'s reason.
void register_cuda_module();

}  // namespace faultline::cli
