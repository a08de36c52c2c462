//! The artifact root on a full or read-only file system (docs/reliability.md): a small
//! tmpfs mounted in a private mount namespace (`unshare -rm`, no privilege
//! needed where user namespaces are allowed). Where that is not possible the
//! tests say so and pass; `TRACKER_REQUIRE_MOUNT=1` (set by CI) makes that
//! a failure.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{TRACKER, text, write_pipeline};

/// Runs `script` under `sh` in a private mount namespace where `$ROOT` is a
/// tmpfs of `size` (mounted with `options`), with `$TRACKER` set. `None`
/// when this machine cannot do that.
fn in_small_fs(dir: &Path, size: &str, options: &str, script: &str) -> Option<Output> {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let probe = Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$0\""])
        .arg(&root)
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        let why = probe.map_or_else(|e| e.to_string(), |o| text(&o.stderr));
        assert!(
            std::env::var("TRACKER_REQUIRE_MOUNT").as_deref() != Ok("1"),
            "cannot mount a tmpfs in a private namespace: {why}"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: cannot mount a tmpfs in a private namespace ({why})");
        }
        return None;
    }
    let mount = format!("mount -t tmpfs -o size={size}{options} tmpfs \"$ROOT\" || exit 99\n");
    let output = Command::new("unshare")
        .args(["-rm", "sh", "-c"])
        .arg(mount + script)
        .current_dir(dir)
        .env("ROOT", &root)
        .env("TRACKER", TRACKER)
        .env("NO_COLOR", "1")
        .env_remove("TRACKER_ARTIFACT_ROOT")
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(99), "{}", text(&output.stderr));
    Some(output)
}

#[test]
fn a_read_only_root_is_refused_before_any_step_starts() {
    let dir = tempfile::tempdir().unwrap();
    write_pipeline(
        dir.path(),
        "pipeline.toml",
        "[pipeline]\nname = \"ro\"\n[[steps]]\nid = \"a\"\nrun = \"touch started\"\n",
    );
    let script = "\"$TRACKER\" --artifact-root \"$ROOT\" run --plain pipeline.toml";
    let Some(out) = in_small_fs(dir.path(), "1m", ",ro", script) else {
        return;
    };
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Read-only file system") && stderr.contains("root"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("started").exists(), "a step ran");
}

/// The root fills up in the middle of the run (a step fills it, the next
/// frees it): the pipeline keeps running, what could not be written is
/// reported, and the run ends completed with whole lines only.
#[test]
fn a_full_disk_mid_run_degrades_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    write_pipeline(
        dir.path(),
        "pipeline.toml",
        r#"
[pipeline]
name = "full"

[[steps]]
id = "fill"
run = '''
cat /dev/zero > "$ROOT/filler" 2>/dev/null
for i in 1 2 3 4 5 6; do echo "line $i of a full disk"; echo "{\"steps\": $i}" >> "$TRACKER_PROGRESS"; sleep 0.2; done
touch "$OUTSIDE/fill-done"
'''

[[steps]]
id = "free"
run = 'rm -f "$ROOT/filler"; touch "$OUTSIDE/free-done"'

[[steps]]
id = "after"
run = 'sleep 0.5; echo after; touch "$OUTSIDE/after-done"'
"#,
    );
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let script = format!(
        "export OUTSIDE='{}'\n\
         \"$TRACKER\" --artifact-root \"$ROOT\" run --plain --interval 0.2 pipeline.toml >/dev/null\n\
         echo \"exit $?\" >&2\n\
         \"$TRACKER\" --artifact-root \"$ROOT\" show latest --format json\n\
         cat \"$ROOT\"/run-tracker/*/summary.json > \"$OUTSIDE/summary.json\"",
        outside.display()
    );
    let Some(out) = in_small_fs(dir.path(), "256k", "", &script) else {
        return;
    };
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("exit 0"), "{stderr}");
    for step in ["fill", "free", "after"] {
        assert!(
            outside.join(format!("{step}-done")).exists(),
            "{step} did not run: {stderr}"
        );
    }
    assert!(
        stderr.contains("No space left on device"),
        "the full disk is reported: {stderr}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(
        doc["warnings"],
        serde_json::json!([]),
        "whole lines only: {doc}"
    );
    let steps = doc["record"]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["status"] == "completed"), "{doc}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outside.join("summary.json")).unwrap()).unwrap();
    let lost = summary["storage_errors"].as_array().unwrap();
    assert!(
        lost.iter()
            .any(|e| e.as_str().unwrap().contains("No space left on device")),
        "the summary says what was lost: {summary}"
    );
}
