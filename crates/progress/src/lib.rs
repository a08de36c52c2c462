//! Step lifecycle, ETA estimation, progress rendering and the failure guard
//! for tracked pipelines.
//!
//! This crate is the library face of the tracker: a Rust pipeline declares
//! its steps, then starts, reports on and finishes them; every transition is
//! persisted through the [`manifest`] crate before anything is printed.
//!
//! Status: skeleton. The API arrives with the live-progress work (SPEC §5);
//! until then the crate only fixes its place in the workspace layering
//! (`telemetry-model` + `manifest`, nothing from the CLI).
//!
//! # Example
//!
//! ```
//! // The crate builds on the storage layer it will drive:
//! let root = manifest::ArtifactRoot::new("output");
//! assert!(root.runs_dir().ends_with("run-tracker"));
//! ```

pub use manifest;
pub use telemetry_model;
