//! Scenarios across crates (docs/design.md, "Tests: where each suite
//! lives"): each drives the public APIs of several crates the way a user
//! does, and checks what the user sees.

// Helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod library_to_cli;
mod python_history;
mod python_package;
mod runner_perf_gate;
