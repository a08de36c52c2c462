//! Any bytes as a pipeline file: `tracker run`'s parser returns the steps
//! or an error that names the file, never panics.
#![no_main]

use std::collections::HashSet;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz/pipeline.toml");
    match runner::pipeline::check(bytes, path) {
        Ok(ids) => {
            assert!(!ids.is_empty() && ids.len() <= 1000, "{} steps", ids.len());
            let unique: HashSet<&String> = ids.iter().collect();
            assert_eq!(unique.len(), ids.len(), "duplicate step ids accepted");
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.starts_with("fuzz/pipeline.toml"), "{text}");
            if let Some((line, col)) = e.line {
                assert!(line >= 1 && col >= 1, "{text}");
            }
        }
    }
});
