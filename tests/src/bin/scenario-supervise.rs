//! The step supervisor of the scenarios' runner runs (a host program that
//! is not the `tracker` binary, as an embedding program's would be).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(runner::supervise_main(std::env::args().skip(1)))
}
