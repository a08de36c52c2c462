//! Bad input: a clear message naming the input, exit status 2, nothing written.

use crate::{fixture, stderr, stdout, tracker};

#[test]
fn bad_flags_name_the_flag_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["list", "--status", "bogus"], "--status"),
        (&["list", "--since", "notadate"], "--since"),
        (&["list", "--until", "yesterday-ish"], "--until"),
        (&["list", "--limit", "-5"], "--limit"),
        (&["list", "--format", "xml"], "--format"),
    ];
    for (args, flag) in cases {
        let out = tracker(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(stdout(&out), "");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn run_references_that_leave_the_root_are_refused() {
    let fx = fixture::build();
    // A real run outside the root that a traversal would reach.
    let outside = fx.root().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    for arg in [
        "../x",
        "..",
        "alpha/../beta",
        "/etc/passwd",
        "./alpha",
        "a//b",
        "",
    ] {
        for command in ["show", "status", "export"] {
            let mut args = vec![command, arg];
            if command == "export" {
                args.extend(["--format", "json"]);
            }
            let out = tracker(fx.root(), &args);
            assert_eq!(out.status.code(), Some(2), "{command} {arg:?}");
            let err = stderr(&out);
            assert!(
                err.starts_with("error: invalid run reference"),
                "{command} {arg:?}: {err}"
            );
        }
    }
}

#[test]
fn unknown_and_ambiguous_runs() {
    let fx = fixture::build();
    let out = tracker(fx.root(), &["show", "zeta"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no run matches `zeta`"),
        "{}",
        stderr(&out)
    );

    // Two runs share the prefix "run-".
    for name in ["run-one", "run-two"] {
        fixture::add_completed_run(fx.root(), Some(name));
    }
    let out = tracker(fx.root(), &["show", "run-"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`run-` matches 2 runs"), "{err}");
    assert!(err.contains("run-one") && err.contains("run-two"), "{err}");
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["--help"][..], &["--version"], &["list", "--help"]] {
        let out = tracker(dir.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!stdout(&out).is_empty());
    }
}

/// An error whose message already ends with its cause says the cause once.
#[test]
fn an_os_error_is_said_once() {
    let fx = fixture::build();
    let out = tracker(
        fx.root(),
        &["tensorboard", "alpha", "--logdir", "/proc/no-such-dir"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: cannot write TensorBoard events under /proc/no-such-dir"),
        "{err}"
    );
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}
