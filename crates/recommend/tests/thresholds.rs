//! Thresholds from TOML as `tracker run` reads them: a pipeline file's
//! `[rules]` table over the defaults, a `--rules FILE` over that.

#![allow(clippy::unwrap_used)]

use recommend::{DEFAULT_RULES_TOML, RulesError, Thresholds};

const PIPELINE: &str = r#"name = "imitation"

[[steps]]
id = "collect"
command = ["python", "collect.py"]

[rules.throughput]
warning_ratio = 0.9

[rules.slow_step]
ratio = 2.0
"#;

#[test]
fn defaults_round_trip() {
    assert_eq!(
        Thresholds::from_toml_str(DEFAULT_RULES_TOML, "defaults").unwrap(),
        Thresholds::default()
    );
    assert_eq!(
        Thresholds::from_toml_str("", "empty.toml").unwrap(),
        Thresholds::default()
    );
}

#[test]
fn a_rules_file_layers_over_the_pipeline_table() {
    let from_pipeline = Thresholds::default()
        .overlay_toml_table(PIPELINE, "pipeline.toml", "rules")
        .unwrap();
    assert_eq!(from_pipeline.throughput.warning_ratio, 0.9);
    assert_eq!(from_pipeline.slow_step.ratio, 2.0);
    assert_eq!(from_pipeline.cpu_saturation, Default::default());

    let rules = "[slow_step]\nratio = 1.25\n\n[cpu_saturation]\nenabled = false\n";
    let t = from_pipeline.overlay_toml_str(rules, "rules.toml").unwrap();
    assert_eq!(t.throughput.warning_ratio, 0.9, "kept from the pipeline");
    assert_eq!(t.slow_step.ratio, 1.25, "the rules file wins");
    assert!(!t.cpu_saturation.enabled);
    assert!(t.validate().is_ok());
}

#[test]
fn unknown_keys_name_source_line_and_key() {
    let err = Thresholds::from_toml_str(
        "[throughput]\nwarning_ratio = 0.9\nwarn_ratio = 0.8\n",
        "rules.toml",
    )
    .unwrap_err();
    assert!(
        matches!(err, RulesError::Key { line: Some(3), .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "rules.toml:3: `throughput.warn_ratio`: unknown key `warn_ratio`, expected one of \
         `enabled`, `warning_ratio`, `critical_ratio`, `min_samples`"
    );

    let pipeline = PIPELINE.replace("ratio = 2.0", "ratio = 2.0\nmedian = 3");
    let err = Thresholds::default()
        .overlay_toml_table(&pipeline, "pipeline.toml", "rules")
        .unwrap_err();
    assert_eq!(err.key(), Some("rules.slow_step.median"));
    assert_eq!(err.line(), Some(12));
    assert!(err.to_string().starts_with("pipeline.toml:12: "), "{err}");
}

#[test]
fn bad_types_are_errors() {
    let err = Thresholds::from_toml_str("[memory_pressure]\nmin_fraction = \"most\"\n", "r.toml")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "r.toml:2: `memory_pressure.min_fraction`: invalid type: string \"most\", expected a number"
    );
}

#[test]
fn out_of_range_values_are_errors() {
    for (text, key) in [
        (
            "[throughput]\nwarning_ratio = 0.7\n",
            "throughput.warning_ratio",
        ),
        (
            "[throughput]\ncritical_ratio = 0.85\n",
            "throughput.critical_ratio",
        ),
        (
            "[cpu_saturation]\npercent = 120\n",
            "cpu_saturation.percent",
        ),
        (
            "[gpu_idle_cpu_bound]\nmin_fraction = 0\n",
            "gpu_idle_cpu_bound.min_fraction",
        ),
        ("[slow_step]\nmin_history = 0\n", "slow_step.min_history"),
    ] {
        let err = Thresholds::from_toml_str(text, "r.toml").unwrap_err();
        assert!(matches!(err, RulesError::Invalid { .. }), "{err:?}");
        assert_eq!(err.key(), Some(key));
        assert_eq!(err.line(), Some(2), "{err}");
    }
}

#[test]
fn the_user_guide_shows_the_real_defaults() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/telemetry.md"
    ))
    .unwrap();
    assert!(
        guide.contains(recommend::DEFAULT_RULES_TOML),
        "docs/telemetry.md must quote DEFAULT_RULES_TOML verbatim"
    );
}
