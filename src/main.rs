//! `hrsm-backup`: the command-line front end over the engine, for servers without a desktop
//! and for scripts. One module per concern under `cli/`; no backup logic lives here.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
