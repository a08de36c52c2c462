//! Reliability of the `tracker` binary under faults (docs/reliability.md):
//! kills at random moments, many runs at once, hostile input, a full or
//! read-only artifact root. `docs/reliability.md` lists each guarantee with
//! the test here that proves it.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod common;
mod concurrent;
mod faults;
mod hostile;
mod kill;
