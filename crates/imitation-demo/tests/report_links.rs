//! The demo's own `report.html`: every link to a file the run produced
//! resolves from the report's folder, wherever the demo was started.

use std::path::Path;
use std::process::Command;

#[test]
fn every_link_in_the_demo_report_resolves_from_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_imitation-demo"))
        .current_dir(dir.path())
        .args(["--scale", "quick", "--plain", "--artifact-root", "out"])
        .env_remove("TRACKER_ARTIFACT_ROOT")
        .env_remove("ROBOT_SF_ARTIFACT_ROOT")
        .output()
        .expect("run the demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = dir.path().join("out/run-tracker");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("report.html").is_file())
        .expect("a run with its report");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    let links = report::linked_files(&html);
    assert!(
        links.len() >= 4,
        "one artifact per step at least: {links:?}"
    );
    for link in &links {
        let target = run.join(link);
        assert!(
            Path::new(&target).exists(),
            "{link} does not resolve from {}",
            run.display()
        );
        assert!(
            !Path::new(link).is_absolute(),
            "{link}: not relative to the report"
        );
    }
}
