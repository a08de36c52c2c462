//! The Python package (`crates/tracker-py`), built and installed the way a
//! user installs it (`pip install crates/tracker-py`, here with the `dev`
//! profile) into a virtual environment under the target directory, then
//! its pytest suite run against it: so `cargo test --workspace` runs the
//! Python tests too (docs/python.md, "Tests").
//!
//! The environment (`target/py-venv`, with maturin, pytest and mypy) is made on
//! first use; a machine without `python3 -m venv` or without the package
//! index skips this test, unless `TRACKER_REQUIRE_PYTHON=1` (set by
//! `.ci/run`) makes that a failure. The package is built with its own
//! target directory (`target/py-build`): the outer `cargo test` holds the
//! workspace's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The target directory this test was built into.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            workspace().join(dir)
        };
    }
    // target/debug/deps/scenarios-…
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

fn required() -> bool {
    std::env::var_os("TRACKER_REQUIRE_PYTHON").is_some_and(|v| v == "1")
}

fn said(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The virtual environment with maturin, pytest and mypy (the typing
/// test), made if missing;
/// `Err` says why there is none.
fn environment(venv: &Path) -> Result<PathBuf, String> {
    let python = venv.join("bin/python");
    let ready = python.is_file()
        && Command::new(&python)
            .args(["-c", "import maturin, pytest, mypy"])
            .output()
            .is_ok_and(|o| o.status.success());
    if ready {
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(venv);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !made.status.success() {
        return Err(format!("python3 -m venv failed: {}", said(&made)));
    }
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "maturin>=1.9,<2",
            "pytest",
            "mypy",
        ])
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !installed.status.success() {
        return Err(format!(
            "cannot install maturin, pytest and mypy: {}",
            said(&installed)
        ));
    }
    Ok(python)
}

#[test]
fn the_python_package_installs_and_passes_its_tests() {
    let target = target_dir();
    let python = match environment(&target.join("py-venv")) {
        Ok(python) => python,
        Err(why) if !required() => {
            eprintln!("skipped: no Python environment for the package's tests: {why}");
            return;
        }
        Err(why) => panic!("TRACKER_REQUIRE_PYTHON=1 but {why}"),
    };
    let package = workspace().join("crates/tracker-py");
    let built = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-build-isolation",
            "--no-deps",
            "--force-reinstall",
        ])
        .arg(&package)
        .env("TRACKER_BUILD_PROFILE", "dev")
        .env("MATURIN_PEP517_ARGS", "--profile dev --locked")
        .env("CARGO_TARGET_DIR", target.join("py-build"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "pip install crates/tracker-py failed: {}",
        said(&built)
    );
    let tested = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(&package)
        .output()
        .unwrap();
    assert!(tested.status.success(), "pytest failed: {}", said(&tested));
    eprintln!("{}", String::from_utf8_lossy(&tested.stdout));
}
