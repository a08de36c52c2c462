//! The two `sysconf` values `/proc` numbers need. All `unsafe` of the crate
//! is here.

#![allow(unsafe_code)]

/// Clock ticks per second (`_SC_CLK_TCK`, 100 on Linux), used by
/// `/proc/<pid>/stat` CPU times.
pub(crate) fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let value = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if value > 0 { value as f64 } else { 100.0 }
}

/// Bytes per memory page (`_SC_PAGESIZE`), used by `/proc/<pid>/stat` RSS.
pub(crate) fn page_size() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let value = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if value > 0 { value as f64 } else { 4096.0 }
}
