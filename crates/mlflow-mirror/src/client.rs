//! A blocking client of the calls the mirror makes to an MLflow tracking
//! server's REST API (`/api/2.0/mlflow/…` and the artifact proxy
//! `/api/2.0/mlflow-artifacts/artifacts/…`), authenticated as MLflow's own
//! clients are, from the environment.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::mapping::{Batch, Tag};

/// The tracking server's address, when none is given (`--mlflow` alone).
pub const ENV_TRACKING_URI: &str = "MLFLOW_TRACKING_URI";
/// A bearer token, sent as `Authorization: Bearer TOKEN`.
pub const ENV_TOKEN: &str = "MLFLOW_TRACKING_TOKEN";
/// Basic auth's user name (with [`ENV_PASSWORD`]); wins over a token, as
/// in MLflow's own client.
pub const ENV_USERNAME: &str = "MLFLOW_TRACKING_USERNAME";
/// Basic auth's password.
pub const ENV_PASSWORD: &str = "MLFLOW_TRACKING_PASSWORD";
/// The experiment's name, when none is given (read by MLflow's own clients
/// too).
pub const ENV_EXPERIMENT: &str = "MLFLOW_EXPERIMENT_NAME";

/// How requests are authenticated.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
    /// `Authorization: Basic …`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.write_str(match self {
            Self::None => "Auth::None",
            Self::Bearer(_) => "Auth::Bearer(…)",
            Self::Basic { .. } => "Auth::Basic(…)",
        })
    }
}

impl Auth {
    /// What MLflow's own client would send: basic auth when
    /// `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD` are both
    /// set, else a bearer `MLFLOW_TRACKING_TOKEN`, else nothing.
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self::from_values(var(ENV_USERNAME), var(ENV_PASSWORD), var(ENV_TOKEN))
    }

    fn from_values(user: Option<String>, password: Option<String>, token: Option<String>) -> Self {
        match (user, password, token) {
            (Some(username), Some(password), _) => Self::Basic { username, password },
            (_, _, Some(token)) => Self::Bearer(token),
            _ => Self::None,
        }
    }

    /// The `Authorization` header's value, if any.
    fn header(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Bearer(token) => Some(format!("Bearer {token}")),
            Self::Basic { username, password } => Some(format!(
                "Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            )),
        }
    }
}

/// Standard base64 with padding (RFC 4648), for basic auth.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// How long a request may take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    /// Establishing the connection.
    pub connect: Duration,
    /// A whole REST call, connection included.
    pub request: Duration,
    /// A whole artifact upload.
    pub upload: Duration,
}

impl Timeouts {
    /// For the live mirror: short, since nothing waits for it but the end
    /// of the run, which waits at most a few seconds anyway.
    pub const LIVE: Self = Self {
        connect: Duration::from_secs(3),
        request: Duration::from_secs(10),
        upload: Duration::from_secs(30),
    };
    /// For `tracker sync`: a person waits, and a big report may upload.
    pub const SYNC: Self = Self {
        connect: Duration::from_secs(10),
        request: Duration::from_secs(60),
        upload: Duration::from_secs(300),
    };
}

/// An MLflow run as the server describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// MLflow's run id.
    pub run_id: String,
    /// The experiment it belongs to.
    pub experiment_id: String,
    /// Where its artifacts go (`mlflow-artifacts:/1/<run>/artifacts`).
    pub artifact_uri: String,
    /// `RUNNING`, `FINISHED`, `FAILED`, `KILLED`, `SCHEDULED`.
    pub status: String,
}

#[derive(Deserialize)]
struct WireRunInfo {
    run_id: String,
    #[serde(default)]
    experiment_id: String,
    #[serde(default)]
    artifact_uri: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    lifecycle_stage: String,
}

impl From<WireRunInfo> for RunInfo {
    fn from(w: WireRunInfo) -> Self {
        Self {
            run_id: w.run_id,
            experiment_id: w.experiment_id,
            artifact_uri: w.artifact_uri,
            status: w.status,
        }
    }
}

/// A client of one tracking server.
#[derive(Clone)]
pub struct Client {
    base: String,
    auth: Auth,
    timeouts: Timeouts,
    agent: ureq::Agent,
    uploads: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("uri", &self.base)
            .field("auth", &self.auth)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// Checks a tracking URI: `http://HOST[:PORT][/PREFIX]` or `https://…`.
/// Returns it without a trailing `/`.
///
/// ```
/// assert_eq!(mlflow_mirror::check_tracking_uri("http://127.0.0.1:5000/")?, "http://127.0.0.1:5000");
/// let err = mlflow_mirror::check_tracking_uri("databricks").unwrap_err();
/// assert!(err.to_string().contains("http://HOST:PORT"), "{err}");
/// # Ok::<(), mlflow_mirror::Error>(())
/// ```
pub fn check_tracking_uri(uri: &str) -> Result<String> {
    let invalid = |reason: String| Error::InvalidUri {
        uri: uri.to_owned(),
        reason,
    };
    let trimmed = uri.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty".to_owned()));
    }
    let no_scheme = || invalid("no scheme; write http://HOST:PORT or https://HOST".to_owned());
    match trimmed.split_once(':') {
        // `localhost:5000`: a host and port without a scheme.
        Some((_, rest)) if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
            return Err(no_scheme());
        }
        Some((scheme, _))
            if scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !scheme.eq_ignore_ascii_case("http")
                && !scheme.eq_ignore_ascii_case("https") =>
        {
            return Err(invalid(format!(
                "the mirror talks to a tracking server (`mlflow server`) over HTTP, not `{scheme}:`; \
                 write http://HOST:PORT or https://HOST"
            )));
        }
        Some(_) => {}
        None => return Err(no_scheme()),
    }
    let parsed: ureq::http::Uri = trimmed
        .parse()
        .map_err(|e: ureq::http::uri::InvalidUri| invalid(e.to_string()))?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) {
        return Err(no_scheme());
    }
    if parsed.host().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_owned()));
    }
    if parsed.query().is_some() {
        return Err(invalid(
            "a query (`?…`) is not part of a tracking URI".to_owned(),
        ));
    }
    Ok(trimmed.trim_end_matches('/').to_owned())
}

impl Client {
    /// A client of the tracking server at `uri` (checked by
    /// [`check_tracking_uri`]).
    pub fn new(uri: &str, auth: Auth, timeouts: Timeouts) -> Result<Self> {
        let base = check_tracking_uri(uri)?;
        let agent = |total: Duration| -> ureq::Agent {
            ureq::Agent::config_builder()
                .timeout_connect(Some(timeouts.connect))
                .timeout_global(Some(total))
                .http_status_as_error(false)
                .user_agent(concat!("tracker-mlflow-mirror/", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        };
        Ok(Self {
            agent: agent(timeouts.request),
            uploads: agent(timeouts.upload),
            base,
            auth,
            timeouts,
        })
    }

    /// The tracking URI (without a trailing `/`).
    pub fn uri(&self) -> &str {
        &self.base
    }

    /// The id of the experiment named `name`, created if missing.
    pub fn ensure_experiment(&self, name: &str) -> Result<String> {
        if let Some(id) = self.experiment_by_name(name)? {
            return Ok(id);
        }
        match self.call_post("experiments/create", &json!({ "name": name })) {
            Ok(v) => string_field(&v, "experiment_id")
                .ok_or_else(|| self.protocol("experiments/create", "no experiment_id")),
            // Another host created it meanwhile.
            Err(Error::Api {
                code: Some(code), ..
            }) if code == "RESOURCE_ALREADY_EXISTS" => {
                self.experiment_by_name(name)?
                    .ok_or_else(|| Error::DeletedExperiment {
                        name: name.to_owned(),
                    })
            }
            Err(e) => Err(e),
        }
    }

    /// The id of the live experiment named `name`, if there is one; a
    /// deleted one is an error.
    pub fn experiment_by_name(&self, name: &str) -> Result<Option<String>> {
        let endpoint = "experiments/get-by-name";
        let found = match self.call_get(endpoint, &[("experiment_name", name)]) {
            Ok(v) => v,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let experiment = &found["experiment"];
        if experiment["lifecycle_stage"].as_str() == Some("deleted") {
            return Err(Error::DeletedExperiment {
                name: name.to_owned(),
            });
        }
        string_field(experiment, "experiment_id")
            .map(Some)
            .ok_or_else(|| self.protocol(endpoint, "no experiment.experiment_id"))
    }

    /// Creates a run named `run_name` in the experiment, started at
    /// `start_time_ms`, with `tags`.
    pub fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        start_time_ms: i64,
        tags: &[Tag],
    ) -> Result<RunInfo> {
        let endpoint = "runs/create";
        let v = self.call_post(
            endpoint,
            &json!({
                "experiment_id": experiment_id,
                "run_name": run_name,
                "start_time": start_time_ms,
                "tags": tags,
            }),
        )?;
        self.run_info(endpoint, &v)
    }

    /// The live run of the experiment tagged `tracker.run_id = run_id`
    /// (the oldest, should there be several).
    pub fn find_run(&self, experiment_id: &str, tracker_run_id: &str) -> Result<Option<RunInfo>> {
        let endpoint = "runs/search";
        // Run ids are [A-Za-z0-9._-]; a quote would end the string early.
        let quoted = tracker_run_id.replace('\'', "");
        let v = self.call_post(
            endpoint,
            &json!({
                "experiment_ids": [experiment_id],
                "filter": format!("tags.`{}` = '{quoted}'", crate::mapping::TAG_RUN_ID),
                "run_view_type": "ACTIVE_ONLY",
                "max_results": 10,
                "order_by": ["attributes.start_time ASC"],
            }),
        )?;
        let Some(runs) = v.get("runs").and_then(Value::as_array) else {
            return Ok(None);
        };
        match runs.first() {
            Some(run) => self.run_info(endpoint, run).map(Some),
            None => Ok(None),
        }
    }

    /// The run with MLflow id `run_id`, unless it is gone or deleted.
    pub fn get_run(&self, run_id: &str) -> Result<Option<RunInfo>> {
        let endpoint = "runs/get";
        match self.call_get(endpoint, &[("run_id", run_id)]) {
            Ok(v) => {
                let info: WireRunInfo = serde_json::from_value(v["run"]["info"].clone())
                    .map_err(|e| self.protocol(endpoint, &e.to_string()))?;
                Ok((info.lifecycle_stage != "deleted").then(|| info.into()))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the run's status (`RUNNING`, `FINISHED`, `FAILED`, `KILLED`)
    /// and, once it ended, its end time.
    pub fn update_run(&self, run_id: &str, status: &str, end_time_ms: Option<i64>) -> Result<()> {
        let mut body = json!({ "run_id": run_id, "status": status });
        if let Some(end) = end_time_ms {
            body["end_time"] = json!(end);
        }
        self.call_post("runs/update", &body).map(drop)
    }

    /// Logs one batch (within MLflow's limits: [`crate::batches`]).
    pub fn log_batch(&self, run_id: &str, batch: &Batch) -> Result<()> {
        #[derive(Serialize)]
        struct Body<'a> {
            run_id: &'a str,
            #[serde(flatten)]
            batch: &'a Batch,
        }
        let body = serde_json::to_value(Body { run_id, batch })
            .map_err(|e| self.protocol("runs/log-batch", &e.to_string()))?;
        self.call_post("runs/log-batch", &body).map(drop)
    }

    /// Uploads `bytes` as the artifact `name` of the run whose artifacts go
    /// to `artifact_uri`, through the server's artifact proxy.
    pub fn upload_artifact(
        &self,
        artifact_uri: &str,
        name: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> Result<()> {
        let path = proxy_path(artifact_uri).ok_or_else(|| Error::ArtifactStore {
            artifact_uri: artifact_uri.to_owned(),
        })?;
        let endpoint = format!("mlflow-artifacts/artifacts/{path}/{name}");
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let request = self
            .authorize(self.uploads.put(&url))
            .content_type(content_type);
        let response = request.send(bytes);
        self.answer(&endpoint, self.timeouts.upload, response)
            .map(drop)
    }

    fn run_info(&self, endpoint: &str, v: &Value) -> Result<RunInfo> {
        let info = v.get("run").map_or(&v["info"], |run| &run["info"]);
        serde_json::from_value::<WireRunInfo>(info.clone())
            .map(RunInfo::from)
            .map_err(|e| self.protocol(endpoint, &format!("no run info: {e}")))
    }

    fn protocol(&self, endpoint: &str, message: &str) -> Error {
        Error::Protocol {
            uri: self.base.clone(),
            endpoint: endpoint.to_owned(),
            message: message.to_owned(),
        }
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match self.auth.header() {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    fn call_get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let mut request = self.authorize(self.agent.get(&url));
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        let response = request.call();
        self.answer(endpoint, self.timeouts.request, response)
    }

    fn call_post(&self, endpoint: &str, body: &Value) -> Result<Value> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let bytes = body.to_string();
        let response = self
            .authorize(self.agent.post(&url))
            .content_type("application/json")
            .send(&bytes);
        self.answer(endpoint, self.timeouts.request, response)
    }

    /// The JSON body of a 2xx answer, or the error it stands for.
    fn answer(
        &self,
        endpoint: &str,
        allowed: Duration,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let transport = |e: ureq::Error| match e {
            ureq::Error::Timeout(_) => Error::Timeout {
                uri: self.base.clone(),
                endpoint: endpoint.to_owned(),
                seconds: allowed.as_secs_f64(),
            },
            other => Error::Transport {
                uri: self.base.clone(),
                endpoint: endpoint.to_owned(),
                message: other.to_string(),
            },
        };
        let mut response = response.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().map_err(transport)?;
        let parsed: Option<Value> = if body.trim().is_empty() {
            Some(json!({}))
        } else {
            serde_json::from_str(&body).ok()
        };
        if (200..300).contains(&status) {
            return parsed
                .ok_or_else(|| self.protocol(endpoint, &format!("not JSON: {}", excerpt(&body))));
        }
        let (code, message) = match &parsed {
            Some(v) => (
                v["error_code"].as_str().map(str::to_owned),
                v["message"]
                    .as_str()
                    .map_or_else(|| excerpt(&body), str::to_owned),
            ),
            None => (None, excerpt(&body)),
        };
        Err(Error::Api {
            uri: self.base.clone(),
            endpoint: endpoint.to_owned(),
            status,
            code,
            message,
        })
    }
}

/// The start of a body, on one line, for an error message.
fn excerpt(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return "(empty body)".to_owned();
    }
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Api { status: 404, .. })
        || matches!(e, Error::Api { code: Some(c), .. } if c == "RESOURCE_DOES_NOT_EXIST")
}

/// A string field, or a number written as one.
fn string_field(v: &Value, key: &str) -> Option<String> {
    match &v[key] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The path under the artifact proxy of an `mlflow-artifacts:` URI
/// (`mlflow-artifacts:/1/abc/artifacts` or
/// `mlflow-artifacts://host:5000/1/abc/artifacts` → `1/abc/artifacts`).
pub(crate) fn proxy_path(artifact_uri: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    let path = match rest.strip_prefix("//") {
        Some(with_authority) => with_authority.find('/').map(|i| &with_authority[i..])?,
        None => rest,
    };
    let path = path.trim_matches('/');
    (!path.is_empty() && !path.split('/').any(|s| s == "..")).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_wins_over_a_token_as_in_mlflow() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            Auth::from_values(s("u"), s("p"), s("t")).header().unwrap(),
            "Basic dTpw"
        );
        assert_eq!(
            Auth::from_values(s("u"), None, s("t")).header().unwrap(),
            "Bearer t"
        );
        assert_eq!(Auth::from_values(None, None, None).header(), None);
        assert_eq!(
            format!("{:?}", Auth::from_values(None, None, s("secret"))),
            "Auth::Bearer(…)"
        );
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pa ss"), "dXNlcjpwYSBzcw==");
    }

    #[test]
    fn tracking_uris_are_checked() {
        assert_eq!(
            check_tracking_uri(" https://mlflow.example.org/prefix/ ").unwrap(),
            "https://mlflow.example.org/prefix"
        );
        for (bad, says) in [
            ("", "empty"),
            ("file:///tmp/mlruns", "not `file:`"),
            ("databricks", "no scheme"),
            ("127.0.0.1:5000", "no scheme"),
            ("localhost:5000", "no scheme"),
            ("http://", "invalid"),
            ("http://h:5000/?x=1", "query"),
            ("http://exa mple", "invalid"),
        ] {
            let err = check_tracking_uri(bad).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn artifact_proxy_paths() {
        assert_eq!(
            proxy_path("mlflow-artifacts:/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(
            proxy_path("mlflow-artifacts://h:5000/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(proxy_path("s3://bucket/1/abc/artifacts"), None);
        assert_eq!(proxy_path("/srv/mlruns/1/abc/artifacts"), None);
        assert_eq!(proxy_path("mlflow-artifacts:/../x"), None);
        assert_eq!(proxy_path("mlflow-artifacts://host"), None);
    }

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(
            excerpt("<html>\n <b>502</b>\n</html>"),
            "<html> <b>502</b> </html>"
        );
        assert_eq!(excerpt(&"x".repeat(300)).chars().count(), 201);
        assert_eq!(excerpt(" \n"), "(empty body)");
    }
}
