//! The `wavegate` binary: parses the command line and runs it.

use std::process::ExitCode;

/// mimalloc rather than the system allocator: a GraphQL response is thousands of small
/// allocations, and `bench/run.sh` measured glibc's malloc as the largest single cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    wavegate::cli::main()
}
