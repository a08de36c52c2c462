//! Saving and loading artifacts as JSON files.
//!
//! Files are written to a temporary name in the target directory and renamed
//! into place, so a reader never sees half a file. Numbers the later steps
//! compute with (dataset pairs, policy weights) are `f32`, which JSON carries
//! exactly; a pipeline run as separate processes therefore gives the same
//! results as one run in memory.

use std::fs;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::collect::Dataset;
use crate::error::Error;
use crate::policy::Policy;

/// File name of the collected dataset.
pub const DATASET_FILE: &str = "dataset.json";
/// File name of a policy (behaviour-cloned or fine-tuned).
pub const POLICY_FILE: &str = "policy.json";
/// File name of the behaviour-cloning report.
pub const PRETRAIN_REPORT_FILE: &str = "pretrain-report.json";
/// File name of the fine-tuning report.
pub const FINETUNE_REPORT_FILE: &str = "finetune-report.json";
/// File name of the evaluation report.
pub const EVAL_REPORT_FILE: &str = "eval-report.json";

/// Writes `value` as JSON to `path` (pretty unless `compact`), atomically.
pub fn save_json<T: Serialize>(value: &T, path: &Path, compact: bool) -> Result<(), Error> {
    let write_err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let file_name = path
        .file_name()
        .map_or_else(|| "artifact".into(), |n| n.to_string_lossy().into_owned());
    let tmp: PathBuf = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = fs::File::create(&tmp)?;
        let mut out = BufWriter::new(file);
        if compact {
            serde_json::to_writer(&mut out, value)?;
        } else {
            serde_json::to_writer_pretty(&mut out, value)?;
        }
        out.write_all(b"\n")?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the temporary file may not exist; the real error is returned.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(write_err)
}

/// Reads JSON from `path`.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let file = fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_reader(BufReader::new(file)).map_err(|source| {
        if source.is_io() {
            Error::Read {
                path: path.to_owned(),
                source: source.into(),
            }
        } else {
            Error::Json {
                path: path.to_owned(),
                source,
            }
        }
    })
}

/// Reads and checks a policy file.
pub fn load_policy(path: &Path) -> Result<Policy, Error> {
    let policy: Policy = load_json(path)?;
    policy.validate().map_err(|reason| Error::InvalidArtifact {
        path: path.to_owned(),
        reason,
    })?;
    Ok(policy)
}

/// Reads and checks a dataset file.
pub fn load_dataset(path: &Path) -> Result<Dataset, Error> {
    let dataset: Dataset = load_json(path)?;
    dataset
        .validate()
        .map_err(|reason| Error::InvalidArtifact {
            path: path.to_owned(),
            reason,
        })?;
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn a_policy_round_trips_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(POLICY_FILE);
        let policy = Policy::random(7, 2.0, &mut Rng::new(3));
        save_json(&policy, &path, false).expect("save");
        assert_eq!(load_policy(&path).expect("load"), policy);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.json");
        let err = load_policy(&missing).expect_err("missing");
        assert!(matches!(err, Error::Read { .. }));
        assert!(err.to_string().contains("nope.json"));

        let bad = dir.path().join("bad.json");
        fs::write(&bad, "{not json").expect("write");
        assert!(matches!(load_policy(&bad), Err(Error::Json { .. })));

        let mut policy = Policy::random(3, 2.0, &mut Rng::new(3));
        policy.hidden = 4;
        let wrong = dir.path().join("wrong.json");
        save_json(&policy, &wrong, true).expect("save");
        let err = load_policy(&wrong).expect_err("shape");
        assert!(matches!(err, Error::InvalidArtifact { .. }), "{err}");

        let unwritable = dir.path().join("no-such-dir").join("x.json");
        assert!(matches!(
            save_json(&policy, &unwritable, true),
            Err(Error::Write { .. })
        ));
    }
}
