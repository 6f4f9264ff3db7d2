//! The `wavegate` binary: parses the command line and runs it.

use std::process::ExitCode;

fn main() -> ExitCode {
    wavegate::cli::main()
}
