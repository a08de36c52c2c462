//! Hostile input to the run registry (docs/reliability.md, "Hostile input"):
//! RUN arguments with `..`, `/`, absolute paths, NUL or absurd lengths are
//! refused with a clear error before any file is touched, and run
//! directories that are symbolic links (to somewhere outside the artifact
//! root) are never listed, resolved, resumed, written through or pruned.

// Helpers outside `#[test]` functions unwrap too: a test fails loudly.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use manifest::{
    ArtifactRoot, Error, PruneRule, Query, RunOptions, RunWriter, files, list_runs, prune,
    resolve_run, validate_run_ref,
};
use telemetry_model::{RunStatus, Timestamp};

fn options(name: &str) -> RunOptions {
    RunOptions {
        name: Some(name.to_owned()),
        sync: false,
        ..RunOptions::default()
    }
}

/// Writes a finished run `name` under `root`, created `minute` minutes
/// after an epoch, and returns its directory.
fn finished_run(root: &ArtifactRoot, name: &str, minute: i64) -> PathBuf {
    let mut writer = RunWriter::create(root, &options(name)).unwrap();
    let mut record = writer.new_record();
    record.created_at = Timestamp::from_unix_ms(1_735_000_000_000 + minute * 60_000);
    record.status = RunStatus::Completed;
    writer.commit(&record).unwrap();
    writer.dir().to_owned()
}

/// Every file below `dir` with its content, symbolic links as their target.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(path, target.as_os_str().as_bytes().to_vec());
            } else if meta.is_dir() {
                walk(&path, out);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

#[test]
fn run_arguments_that_could_leave_the_root_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path().join("root"));
    let long = "x".repeat(1025);
    let cases: &[(&str, &str)] = &[
        ("", "it is empty"),
        ("..", "`..`"),
        ("../x", "`..`"),
        ("a/../b", "`..`"),
        ("a/..", "`..`"),
        ("./a", "`.`"),
        ("a/./b", "`.`"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("a\\b", "`\\`"),
        ("..\\x", "`\\`"),
        ("/etc/passwd", "absolute paths"),
        ("/", "absolute paths"),
        ("\\x", "absolute paths"),
        ("a\0b", "NUL"),
        ("\0", "NUL"),
        (&long, "longer than 1024 bytes"),
    ];
    for (arg, reason) in cases {
        let err = validate_run_ref(arg).unwrap_err();
        let Error::InvalidRunRef { arg: shown, .. } = &err else {
            panic!("{arg:?}: expected InvalidRunRef, got {err:?}");
        };
        let text = err.to_string();
        assert!(text.starts_with("invalid run reference `"), "{text}");
        assert!(text.contains(reason), "{arg:?}: {text}");
        assert!(text.len() < 400, "{arg:?}: the message is shortened");
        assert!(
            !shown.contains('\0'),
            "NUL is shown, not printed: {shown:?}"
        );
        match resolve_run(&root, arg) {
            Err(Error::InvalidRunRef { .. }) => {}
            other => panic!("{arg:?}: resolve_run should refuse, got {other:?}"),
        }
    }
    assert_eq!(
        validate_run_ref("a\0b").unwrap_err().to_string(),
        "invalid run reference `a\\0b`: it contains NUL"
    );
    assert!(!root.path().exists(), "refusing created the root");
}

#[test]
fn long_but_valid_run_arguments_are_not_found_not_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path());
    finished_run(&root, "real", 1);
    // Longer than a file name may be (255 bytes), a deep path, the longest
    // argument accepted: looked up, not found, no I/O error.
    for arg in [
        "y".repeat(300),
        format!("{}z", "a/".repeat(300)),
        "w".repeat(1024),
    ] {
        match resolve_run(&root, &arg) {
            Err(e @ Error::RunNotFound { .. }) => {
                assert!(e.to_string().len() < 400, "{e}");
            }
            other => panic!("{}: expected RunNotFound, got {other:?}", arg.len()),
        }
    }
    // Unicode and odd but harmless characters are just names.
    for arg in ["é", "run name with spaces", "-rf", "$(reboot)", "*"] {
        assert!(
            matches!(resolve_run(&root, arg), Err(Error::RunNotFound { .. })),
            "{arg}"
        );
    }
}

#[test]
fn symlinked_run_directories_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    // A run outside the artifact root, under another root.
    let outside = ArtifactRoot::new(tmp.path().join("outside"));
    let secret = finished_run(&outside, "secret", 0);
    let root = ArtifactRoot::new(tmp.path().join("root"));
    finished_run(&root, "good", 5);
    let runs = root.runs_dir();
    // A run directory linked out (absolute and relative), a container of
    // runs linked out, a link to a file and a dangling link.
    std::os::unix::fs::symlink(&secret, runs.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../outside/run-tracker/secret", runs.join("evil-rel")).unwrap();
    std::os::unix::fs::symlink(outside.runs_dir(), runs.join("nest")).unwrap();
    std::os::unix::fs::symlink(secret.join(files::MANIFEST), runs.join("file")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), runs.join("dangling")).unwrap();
    assert!(runs.join("evil-rel").join(files::MANIFEST).is_file());
    let outside_before = tree(outside.path());

    let listing = list_runs(&root, &Query::default()).unwrap();
    let ids: Vec<&str> = listing.runs.iter().map(|r| r.run_id()).collect();
    assert_eq!(ids, ["good"]);
    assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);

    for arg in [
        "evil",
        "evil-rel",
        "nest",
        "nest/secret",
        "secret",
        "sec",
        "file",
        "dangling",
    ] {
        match resolve_run(&root, arg) {
            Err(Error::RunNotFound { .. }) => {}
            other => panic!("{arg}: expected RunNotFound, got {other:?}"),
        }
    }
    assert_eq!(resolve_run(&root, "latest").unwrap().run_id(), "good");

    // Writers neither resume through the link nor create over it.
    for name in ["evil", "evil-rel"] {
        match RunWriter::resume(&root, name, &options(name)) {
            Err(e @ Error::InvalidRunRef { .. }) => {
                assert!(e.to_string().contains("symbolic link"), "{e}");
            }
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
        assert!(matches!(
            RunWriter::create(&root, &options(name)),
            Err(Error::RunExists { .. })
        ));
    }
    // Retention never deletes through a link, even one older than every run.
    let rule = PruneRule {
        keep: Some(1),
        ..PruneRule::default()
    };
    let report = prune(&root, &rule, None).unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(runs.join("evil").exists());

    assert_eq!(
        tree(outside.path()),
        outside_before,
        "something outside changed"
    );
}

#[test]
fn a_real_run_directory_with_linked_files_is_not_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = ArtifactRoot::new(tmp.path().join("outside"));
    let secret = finished_run(&outside, "secret", 0);
    let root = ArtifactRoot::new(tmp.path().join("root"));
    let outside_before = tree(outside.path());

    // The manifest is a link out.
    let dir = root.runs_dir().join("linked-manifest");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(secret.join(files::MANIFEST), dir.join(files::MANIFEST)).unwrap();
    // The lock is a link out (a writer would truncate its target).
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let dir = finished_run(&root, "linked-lock", 1);
    std::fs::remove_file(dir.join(manifest::LOCK_FILE)).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join(manifest::LOCK_FILE)).unwrap();

    for name in ["linked-manifest", "linked-lock"] {
        match RunWriter::resume(&root, name, &options(name)) {
            Err(e @ Error::InvalidRunRef { .. }) => {
                assert!(e.to_string().contains("symbolic link"), "{e}");
            }
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(
        tree(outside.path()),
        outside_before,
        "something outside changed"
    );
}

#[test]
fn run_directories_with_non_utf8_names_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path());
    finished_run(&root, "good", 1);
    let odd = root
        .runs_dir()
        .join(std::ffi::OsStr::from_bytes(b"bad-\xff\xfe"));
    std::fs::create_dir(&odd).unwrap();
    std::fs::copy(
        root.runs_dir().join("good").join(files::MANIFEST),
        odd.join(files::MANIFEST),
    )
    .unwrap();
    let listing = list_runs(&root, &Query::default()).unwrap();
    assert_eq!(listing.runs.len(), 1);
    assert_eq!(listing.runs[0].rel_path, "good");
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs `f` on a thread and fails the test if it takes more than 10 s (a
/// reader blocked on a FIFO would otherwise hang the test run).
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("a reader blocked")
}

#[test]
fn fifos_and_devices_in_run_directories_do_not_block_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = ArtifactRoot::new(tmp.path());
    finished_run(&root, "good", 1);
    let runs = root.runs_dir();
    // A FIFO as a manifest (a reader would wait for a writer forever) ...
    std::fs::create_dir(runs.join("fifo")).unwrap();
    let fifo = runs.join("fifo").join(files::MANIFEST);
    mkfifo(&fifo);
    // ... a device as a manifest (a reader would never reach its end) ...
    std::fs::create_dir(runs.join("device")).unwrap();
    let device = runs.join("device").join(files::MANIFEST);
    std::os::unix::fs::symlink("/dev/zero", &device).unwrap();
    // ... and a FIFO as the lock of an abandoned run.
    let mut writer = RunWriter::create(&root, &options("fifo-lock")).unwrap();
    let mut record = writer.new_record();
    record.created_at = Timestamp::from_unix_ms(1_735_000_000_000);
    record.status = RunStatus::Running;
    writer.commit(&record).unwrap();
    drop(writer);
    std::fs::remove_file(runs.join("fifo-lock").join(manifest::LOCK_FILE)).unwrap();
    mkfifo(&runs.join("fifo-lock").join(manifest::LOCK_FILE));

    let listing = {
        let root = root.clone();
        within_10s(move || list_runs(&root, &Query::default()).unwrap())
    };
    let mut listed: Vec<(&str, manifest::RunState)> =
        listing.runs.iter().map(|r| (r.run_id(), r.state)).collect();
    listed.sort_unstable_by_key(|(id, _)| *id);
    assert_eq!(
        listed,
        [
            ("fifo-lock", manifest::RunState::Abandoned),
            ("good", manifest::RunState::Completed)
        ]
    );
    let mut warned: Vec<String> = listing.warnings.iter().map(ToString::to_string).collect();
    warned.sort_unstable();
    assert_eq!(
        warned,
        [
            format!(
                "{}:0: unreadable, run not listed: cannot read {}: a symbolic link, which is not followed",
                device.display(),
                device.display()
            ),
            format!(
                "{}:0: unreadable, run not listed: cannot read {}: not a regular file",
                fifo.display(),
                fifo.display()
            ),
        ]
    );
    for path in [fifo, device] {
        let shown = path.clone();
        let results = within_10s(move || {
            (
                manifest::read_manifest(&path).map(|_| ()),
                manifest::read_last_record::<serde_json::Value>(&path).map(|_| ()),
                manifest::read_jsonl::<serde_json::Value>(&path, |_, _| {}).map(|_| ()),
                manifest::read_steps(&path).map(|_| ()),
            )
        });
        for result in [results.0, results.1, results.2, results.3] {
            let err = result.unwrap_err().to_string();
            // The device is reached through a symbolic link, which readers
            // do not follow either.
            assert!(
                err.ends_with("not a regular file") || err.ends_with("which is not followed"),
                "{}: {err}",
                shown.display()
            );
        }
    }
    let resolved = within_10s(move || resolve_run(&root, "device").map(|_| ()));
    assert!(matches!(resolved, Err(Error::RunNotFound { .. })));
}

#[test]
fn read_regular_refuses_fifos_devices_and_oversized_files_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("perf_test_results.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let started = std::time::Instant::now();
    assert!(manifest::read_regular(&fifo, 1024).is_err());
    assert!(manifest::read_regular(Path::new("/dev/zero"), 1024).is_err());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "no blocking"
    );
    let big = tmp.path().join("big.json");
    std::fs::write(&big, vec![b' '; 2048]).unwrap();
    let err = manifest::read_regular(&big, 1024).unwrap_err().to_string();
    assert!(
        err.contains("big.json") && err.contains("2048 bytes"),
        "{err}"
    );
    assert_eq!(manifest::read_regular(&big, 4096).unwrap().len(), 2048);
}
