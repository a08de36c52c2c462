//! The `tracker` command. Everything lives in the library; see `tracker_cli::run`.

fn main() -> std::process::ExitCode {
    tracker_cli::run()
}
