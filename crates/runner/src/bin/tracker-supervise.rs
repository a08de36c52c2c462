//! `tracker-supervise --parent PID -- COMMAND`: the step supervisor as a
//! program of its own, for hosts that are not the `tracker` binary (the
//! runner's tests, an embedding program). See `runner::supervise`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(runner::supervise_main(std::env::args().skip(1)))
}
