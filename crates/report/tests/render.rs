//! The report's HTML: a snapshot of a fixed run, escaping, and the awkward
//! inputs (no telemetry, one sample, all-null metrics, live and abandoned
//! runs).

mod support;

use report::{ArtifactLinks, render_html};
use support::{T0, demo_run};
use telemetry_model::{
    PerformanceRecommendation, RunStatus, Severity, StepStatus, TelemetrySnapshot, Timestamp,
};

/// Whether a non-finite number made it into the markup (`inf`, `NaN` in a
/// coordinate or a cell). The stylesheet is left out of the search.
fn has_non_finite(html: &str) -> bool {
    let body = html.split("</style>").nth(1).unwrap_or(html);
    [
        "NaN", "\"inf", "\"-inf", ",inf", ",-inf", "Minf", "M-inf", "Linf", "L-inf", ">inf<",
        ">-inf<",
    ]
    .iter()
    .any(|p| body.contains(p))
}

/// Whether every element the report opens is closed, roughly: the counts of
/// a few paired tags match.
fn balanced(html: &str) -> bool {
    ["svg", "section", "table", "tr", "td", "article", "ul", "dl"]
        .iter()
        .all(|tag| {
            let opens = html.matches(&format!("<{tag}>")).count()
                + html.matches(&format!("<{tag} ")).count();
            opens == html.matches(&format!("</{tag}>")).count()
        })
}

#[test]
fn snapshot_of_a_finished_run() {
    let run = demo_run();
    let mut input = run.input();
    input.now = Some(Timestamp::from_unix_ms(T0 + 600_000));
    input.links = ArtifactLinks {
        base_dir: Some("/work/project".into()),
        report_dir: Some(
            "/work/project/output/run-tracker/01947a3c-5e00-7d3a-9f2e-3b4c5d6e7f80".into(),
        ),
    };
    let html = render_html(&input);
    assert!(balanced(&html));
    assert_eq!(render_html(&input), html, "rendering is deterministic");
    insta::assert_snapshot!("finished_run", html);
}

#[test]
fn every_section_is_there() {
    let run = demo_run();
    let html = render_html(&run.input());
    for id in [
        "timeline",
        "telemetry",
        "steps",
        "recommendations",
        "perf-tests",
        "sensors",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    for chart in [
        "cpu",
        "memory-rss",
        "memory-system",
        "gpu-util",
        "gpu-mem",
        "throughput",
        "fps",
    ] {
        assert!(html.contains(&format!("id=\"chart-{chart}\"")), "{chart}");
    }
    // No scripts, no external resources.
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!has_non_finite(&html));
    // Critical first.
    let critical = html.find("sev-critical").unwrap();
    let warning = html.find("<article class=\"rec sev-warning").unwrap();
    assert!(critical < warning);
    // Exit code 2 stands out; the skipped step is listed without a bar.
    assert!(html.contains("<td class=\"num bad\">2</td>"));
    assert!(html.contains("<text class=\"no-bar\""));
    // Relative artifact links, percent-encoded.
    assert!(html.contains("href=\"data/expert%20trajectories.json\""));
}

const HOSTILE: &str = "<script>alert(\"x\")</script>'\"&<img src=x onerror=alert(1)>";

#[test]
fn strings_from_the_run_are_escaped() {
    let mut run = demo_run();
    let r = &mut run.record;
    r.run_id = format!("run{HOSTILE}");
    r.pipeline = Some(format!("pipe{HOSTILE}"));
    r.host = Some(HOSTILE.into());
    r.initiator = Some(HOSTILE.into());
    r.scenario_config_path = Some(HOSTILE.into());
    r.artifact_dir = Some(HOSTILE.into());
    for step in &mut r.steps {
        step.step_id = format!("id{HOSTILE}");
        step.display_name = format!("name{HOSTILE}");
        step.artifacts = vec![HOSTILE.into(), format!("javascript:alert(1)//{HOSTILE}")];
    }
    for s in &mut run.snapshots {
        s.notes = vec![format!("gpu: {HOSTILE}")];
        s.gpu_util_percent = None;
        s.gpu_mem_used_mb = None;
    }
    run.recommendations.push(PerformanceRecommendation {
        trigger: HOSTILE.into(),
        severity: Severity::Critical,
        message: HOSTILE.into(),
        evidence: [(HOSTILE.to_owned(), serde_json::json!(HOSTILE))].into(),
        suggested_actions: vec![HOSTILE.into()],
        timestamp_ms: T0,
    });
    run.perf_tests[0].test_id = HOSTILE.into();
    run.perf_tests[0].matrix = Some(HOSTILE.into());
    let html = render_html(&run.input());

    assert!(!html.contains("<script"), "a raw <script> got through");
    assert!(!html.contains("<img"), "a raw <img> got through");
    assert!(
        !html.contains("href=\"javascript:"),
        "a javascript: link got through"
    );
    assert!(html.contains("href=\"javascript%3Aalert%281%29//%3Cscript%3E"));
    assert!(
        html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&quot;&amp;&lt;img")
    );
    assert!(balanced(&html));
}

#[test]
fn no_telemetry_at_all() {
    let mut run = demo_run();
    run.snapshots.clear();
    let html = render_html(&run.input());
    assert!(html.contains("No telemetry was recorded for this run"));
    assert!(html.contains("No samples, so nothing to say about sensors."));
    assert!(!html.contains("id=\"chart-cpu\""));
    assert!(
        html.contains("class=\"gantt\""),
        "the timeline still renders"
    );
    assert!(balanced(&html));
}

#[test]
fn a_single_sample_is_a_dot() {
    let mut run = demo_run();
    run.snapshots.truncate(1);
    let html = render_html(&run.input());
    assert!(html.contains("1 sample from"));
    assert!(html.contains("<circle class=\"dot s-cpu\""));
    assert!(!html.contains("<path class=\"ln s-cpu\""));
    assert!(balanced(&html));
}

#[test]
fn metrics_that_are_always_null_say_why() {
    let mut run = demo_run();
    for s in &mut run.snapshots {
        s.gpu_util_percent = None;
        s.gpu_mem_used_mb = None;
        s.notes = vec!["gpu: no NVIDIA driver found: GPU metrics off".into()];
        s.steps_per_sec = None;
        s.fps = None;
    }
    let html = render_html(&run.input());
    // Said once, under Sensors: the GPU charts a note explains are left out.
    assert_eq!(html.matches("no NVIDIA driver found").count(), 1, "{html}");
    assert!(!html.contains("id=\"chart-gpu-util\""));
    assert!(!html.contains("id=\"chart-gpu-mem\""));
    assert!(html.contains(&format!("— {n} of {n} samples", n = run.snapshots.len())));
    // No note for the throughput: an empty chart says why, and a perf run
    // where its measured throughput is.
    assert!(html.contains(
        "No data: no throughput while the steps ran; the measured throughput is under \
         Performance tests"
    ));
    assert!(html.contains("class=\"chart empty\" id=\"chart-throughput\""));
    run.perf_tests.clear();
    let html = render_html(&run.input());
    assert!(html.contains("No data: the steps reported no throughput while they ran"));
}

#[test]
fn a_run_still_going() {
    let mut run = demo_run();
    let r = &mut run.record;
    r.status = RunStatus::Running;
    r.completed_at = None;
    r.summary.total_duration = None;
    r.steps[2].status = StepStatus::Running;
    r.steps[2].ended_at = None;
    r.steps[2].duration_seconds = None;
    r.steps[3].status = StepStatus::Pending;
    r.steps[3].started_at = None;
    r.steps[3].ended_at = None;
    r.steps[3].duration_seconds = None;
    r.steps[4].status = StepStatus::Pending;
    run.snapshots.retain(|s| s.timestamp_ms < T0 + 160_000);
    run.recommendations.clear();
    run.perf_tests.clear();
    let mut input = run.input();
    input.now = Some(Timestamp::from_unix_ms(T0 + 165_000));
    let html = render_html(&input);
    assert!(html.contains("<span class=\"badge st-running\">running</span>"));
    assert!(html.contains("still running"));
    assert!(html.contains("2m45s")); // 165 s so far
    assert!(html.contains("class=\"bar st-running open\""));
    assert!(!html.contains("id=\"perf-tests\""));
    assert!(html.contains("None: no rule found anything"));
    assert!(balanced(&html));

    // The same run whose writer died: abandoned, no "so far" up to now.
    input.abandoned = true;
    let html = render_html(&input);
    assert!(html.contains("<span class=\"badge st-abandoned\">abandoned</span>"));
    assert!(html.contains("stopped without recording an end"));
    assert!(html.contains("until its last record"));
    assert!(!html.contains("still running"));
}

#[test]
fn samples_without_time_or_values_do_not_break_it() {
    let mut run = demo_run();
    run.snapshots.push(TelemetrySnapshot::default()); // timestamp null → 0
    run.snapshots.push(TelemetrySnapshot {
        timestamp_ms: T0 + 5_000,
        cpu_percent_process: Some(f64::NAN),
        memory_rss_mb: Some(f64::INFINITY),
        ..TelemetrySnapshot::default()
    });
    let html = render_html(&run.input());
    assert!(!has_non_finite(&html));
    assert!(balanced(&html));
}

#[test]
fn a_python_tracker_run_read_from_disk() {
    // What the CLI will do: the manifest reader for the record,
    // recommendations and perf tests; the JSONL reader for telemetry.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python-run");
    let contents = manifest::read_manifest(&dir.join("manifest.jsonl")).unwrap();
    let mut snapshots = Vec::new();
    let warnings =
        manifest::read_jsonl(&dir.join("telemetry.jsonl"), |_, s| snapshots.push(s)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let record = contents.record.unwrap();
    let mut input = report::ReportInput::new(&record);
    input.snapshots = &snapshots;
    input.recommendations = &contents.recommendations;
    input.perf_tests = &contents.perf_tests;
    let html = render_html(&input);
    assert!(html.contains("Pretrain behaviour cloning policy"));
    assert!(html.contains("<span class=\"badge st-completed\">completed</span>"));
    assert!(html.contains("cpu_saturation"));
    assert!(html.contains("gpu: nvml unavailable"));
    assert!(
        html.contains("7m10s"),
        "duration from created_at to completed_at"
    );
    assert!(html.contains("<path class=\"ln s-cpu\""));
    assert!(!has_non_finite(&html));
    assert!(balanced(&html));
}

#[test]
fn long_runs_stay_small() {
    // Five and a half hours at one sample a second.
    let mut run = demo_run();
    let template = run.snapshots[60].clone();
    let end_s = 20_000;
    run.snapshots = (0..end_s)
        .map(|i| TelemetrySnapshot {
            timestamp_ms: T0 + i * 1000,
            cpu_percent_process: Some((i % 97) as f64),
            ..template.clone()
        })
        .collect();
    run.record.completed_at = Some(Timestamp::from_unix_ms(T0 + end_s * 1000));
    run.record.summary.total_duration = Some(end_s as f64);
    let html = render_html(&run.input());
    println!(
        "{} samples: {} bytes of HTML",
        run.snapshots.len(),
        html.len()
    );
    assert!(html.len() < 300_000, "{} bytes", html.len());
    // The saw-tooth keeps its full height after thinning.
    assert!(html.contains("tracked<tspan class=\"stat\"> max 96</tspan>"));
}
