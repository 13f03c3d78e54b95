//! The `tarp` command: a demo server, and calls to any TARP server from the shell.
//! Run `tarp --help` for the subcommands and the exit codes.
#![forbid(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}
