//! Any bytes as `steps.json`: `read_steps` returns steps or an error naming
//! the file, never panics, and steps it returns survive a write and a
//! re-read. The same bytes as one manifest line must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|bytes: &[u8]| {
    let path = scratch::write("steps.json", bytes);
    match manifest::read_steps(&path) {
        Ok(steps) => {
            let again = serde_json::to_vec_pretty(&steps).expect("steps serialise");
            let path = scratch::write("steps-again.json", &again);
            let reread = manifest::read_steps(&path).expect("what was written reads back");
            assert_eq!(reread.len(), steps.len());
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
    }
    let _ = manifest::parse_manifest_line(bytes);
});
