//! Hostile input to `tracker run` (docs/reliability.md): run names that would leave the
//! root, run directories that are symlinks out of it, pipeline files with
//! absurd values, garbage on the progress channel. Each gets a clear error
//! or is ignored with a warning; nothing is written outside the root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use manifest::RunState;

use crate::common::{listing, run, text, write_pipeline};

/// Every path under `dir`, for before/after comparisons.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            out.insert(path);
        }
    }
    out
}

#[test]
fn run_names_that_could_leave_the_root_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "pipeline.toml",
        "[pipeline]\nname = \"n\"\n[[steps]]\nid = \"a\"\nrun = \"touch ran\"\n",
    );
    let root = dir.path().join("root");
    let long = "a".repeat(129);
    let before = tree(dir.path());
    for name in [
        "..",
        "../escape",
        "/tmp/abs",
        "a/b",
        ".hidden",
        "-flag",
        "name with space",
        "ünïcode",
        &long,
        "a\\b",
        "",
    ] {
        let flag = format!("--run-id={name}");
        let out = run(&root, &["run", &flag, pipeline.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name:?}: {err}");
        assert!(err.starts_with("error: "), "{name:?}: {err}");
        assert!(
            err.contains("[A-Za-z0-9]"),
            "says what is expected: {name:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let after = tree(dir.path());
    let new: Vec<_> = after.difference(&before).collect();
    assert!(
        new.iter().all(|p| p.starts_with(&root)),
        "written outside the root: {new:?}"
    );
    assert!(!dir.path().join("ran").exists(), "no step ran");
}

#[test]
fn a_run_directory_that_is_a_symlink_out_of_the_root_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let quick = crate::common::quick_pipeline(dir.path());
    let root = dir.path().join("root");
    let out = run(&root, &["run", "--run-id", "real", quick.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A complete run outside the root, and a link to it inside.
    let outside = dir.path().join("outside");
    let out = run(
        &outside,
        &["run", "--run-id", "elsewhere", quick.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0));
    std::os::unix::fs::symlink(
        outside.join("run-tracker/elsewhere"),
        root.join("run-tracker/elsewhere"),
    )
    .unwrap();
    let ids: Vec<String> = listing(&root)
        .runs
        .iter()
        .map(|r| r.run_id().to_owned())
        .collect();
    assert_eq!(ids, ["real"], "the link is not listed");
    let out = run(&root, &["list", "--format", "json"]);
    assert!(
        !text(&out.stdout).contains("elsewhere"),
        "{}",
        text(&out.stdout)
    );
    for command in ["show", "status"] {
        let out = run(&root, &[command, "elsewhere"]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command}: {}",
            text(&out.stdout)
        );
    }
    // Retention never deletes through the link either.
    let out = run(&root, &["run", "--keep", "1", quick.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        outside
            .join("run-tracker/elsewhere/manifest.jsonl")
            .is_file()
    );
}

#[test]
fn pipeline_files_with_absurd_values_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let step = "[pipeline]\nname = \"p\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n";
    let huge_run = format!(
        "[pipeline]\nname = \"p\"\n[[steps]]\nid = \"a\"\nrun = \"{}\"\n",
        "x".repeat(2 << 20)
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expected",
            format!("{step}expected_seconds = 1e308\n"),
            "expected_seconds",
        ),
        (
            "negative",
            format!("{step}expected_seconds = -1\n"),
            "expected_seconds",
        ),
        (
            "nan",
            format!("{step}expected_seconds = nan\n"),
            "expected_seconds",
        ),
        ("id", step.replace("id = \"a\"", "id = \"../../etc\""), "id"),
        (
            "dup",
            format!("{step}[[steps]]\nid = \"a\"\nrun = \"true\"\n"),
            "a",
        ),
        ("empty", String::new(), "pipeline"),
        ("binary", "\u{0}\u{1}\u{2}garbage".to_owned(), "binary.toml"),
        ("huge-run", huge_run, "run"),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, content).unwrap();
        let out = run(&root, &["run", path.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(err.contains(expected), "{name}: names `{expected}`: {err}");
        assert!(
            err.len() < 2000,
            "{name}: the error does not echo the input: {} bytes",
            err.len()
        );
    }
    // Not UTF-8, a directory, nothing at all.
    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"[pipeline]\nname = \"caf\xe9\"\n").unwrap();
    for path in [
        latin1,
        dir.path().to_owned(),
        dir.path().join("missing.toml"),
    ] {
        let out = run(&root, &["run", path.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert!(err.contains(path.to_str().unwrap()), "{err}");
    }
    assert!(!root.exists(), "nothing was created for invalid pipelines");
}

/// A thousand steps (the documented limit) run; ten thousand are refused
/// with a message that says so.
#[test]
fn a_thousand_steps_run_and_ten_thousand_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let many = |n: usize| {
        let mut text = String::from("[pipeline]\nname = \"many\"\n");
        for i in 0..n {
            text.push_str(&format!(
                "[[steps]]\nid = \"s{i}\"\nrun = \"true\"\nenabled = {}\n",
                i < 3
            ));
        }
        write_pipeline(dir.path(), &format!("many{n}.toml"), &text)
    };
    let out = run(&root, &["run", "--plain", many(10_000).to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("10000 steps: at most 1000"), "{err}");
    assert!(!root.exists());

    let out = run(
        &root,
        &[
            "run",
            "--plain",
            "--no-telemetry",
            many(1000).to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let runs = listing(&root).runs;
    assert_eq!(runs[0].record.steps.len(), 1000);
    assert_eq!(runs[0].state, RunState::Completed);
}

#[test]
fn garbage_on_the_progress_channel_is_skipped_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "pipeline.toml",
        r#"
[pipeline]
name = "garbage"

[[steps]]
id = "noisy"
run = '''
python3 - <<'PY'
import os
with open(os.environ["TRACKER_PROGRESS"], "ab") as f:
    f.write(b'{"steps": 10}\n')
    f.write(os.urandom(4096).replace(b"\n", b"x") + b"\n")   # binary garbage
    f.write(b"\xff\xfe not utf-8\n")
    f.write(b'{"progress": 7}\n')                            # out of range
    f.write(b'{"steps": "many"}\n')                          # wrong type
    f.write(b"[1, 2, 3]\n")                                  # not an object
    f.write(b"\x00" * 1000 + b"\n")                           # NUL bytes
    f.write(b'{"message": "' + b"m" * (8 << 20) + b'"}\n')   # 8 MB line
    f.write(b'{"artifact": "../../../../etc/passwd"}\n')
    f.write(b'{"steps": 20, "progress": 0.5}\n')
    f.write(b'{"steps": 30')                                 # torn at the end
PY
'''
"#,
    );
    let root = dir.path().join("root");
    let out = run(&root, &["run", "--plain", pipeline.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let warnings = err.matches("ignoring progress line").count();
    assert_eq!(warnings, 1, "one warning per step: {err}");
    assert!(
        err.len() < 20_000,
        "the warning does not echo the garbage: {} bytes",
        err.len()
    );
    let runs = listing(&root).runs;
    assert_eq!(runs[0].state, RunState::Completed);
    let step = &runs[0].record.steps[0];
    // The artifact is recorded as reported (it is a name, never opened or
    // written by the tracker).
    assert!(
        step.artifacts
            .iter()
            .all(|a| !Path::new(a).starts_with("/etc")),
        "{step:?}"
    );
}
