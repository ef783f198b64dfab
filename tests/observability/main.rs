//! Observability, proven with the real tools rather than hoped: `promtool` lints a live
//! server's `/metrics`, a real Prometheus scrapes a live server and evaluates every query
//! of the Grafana dashboard, and the dashboard's structure is checked.
//!
//! `prometheus` and `promtool` must be on PATH (Debian's `prometheus` package; `.ci/run`
//! installs it). Without them these tests fail; they never skip.
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatpulse_testkit::prometheus::samples;
use chatpulse_testkit::{numbered, RedisServer, TestApp, TestCluster};
use serde_json::Value;

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/dashboards/chatpulse.json");
const DS_REF: &str = "${DS_PROMETHEUS}";
const JOB: &str = "chatpulse";
/// What `$__rate_interval` becomes: at least four 1 s scrapes, as Grafana would compute.
const RATE_INTERVAL: &str = "15s";
/// Names posted by the traffic driver; none may ever show up as a label value.
const SECRET_USER: &str = "obsuser7731";
const SECRET_CHANNEL: &str = "obschannel7731";

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The path of a tool, or a failure that says how to get it.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not on PATH. These tests need Prometheus' own tools: install Debian's \
                 `prometheus` package (apt-get install --no-install-recommends prometheus), as .ci/run does."
            )
        })
}

/// A chatpulse server with demo traffic on a fresh database.
async fn start_server() -> TestApp {
    TestApp::builder().demo().start().await
}

fn client() -> awc::Client {
    awc::Client::builder().timeout(Duration::from_secs(20)).finish()
}

async fn get_text(url: &str) -> (u16, String) {
    let mut res = client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = res
        .body()
        .limit(64 << 20)
        .await
        .unwrap_or_else(|e| panic!("GET {url} body: {e}"));
    (res.status().as_u16(), String::from_utf8_lossy(&body).into_owned())
}

/// Opens an SSE connection on `view` and keeps reading it in the background.
async fn open_sse(server: &TestApp, view: &str) -> actix_rt::task::JoinHandle<()> {
    use futures_util::StreamExt;
    let url = server.url(&format!("/live/sse?view={view}"));
    let res = awc::Client::builder()
        .disable_timeout()
        .finish()
        .get(&url)
        .insert_header(("accept", "text/event-stream"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(res.status().as_u16(), 200, "SSE {view}");
    actix_rt::spawn(async move {
        let mut body = res;
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
}

/// Live clients plus HTTP traffic on every read route, ingest through HTTP (stored and
/// rejected), until the returned handles are dropped or aborted.
async fn drive_traffic(server: &TestApp) -> Vec<actix_rt::task::JoinHandle<()>> {
    let mut tasks = vec![open_sse(server, "home").await, open_sse(server, "channels").await];
    let base = server.url("");
    tasks.push(actix_rt::spawn(async move {
        let c = client();
        for i in 0u64.. {
            let msg = serde_json::json!({"channel": SECRET_CHANNEL, "user": SECRET_USER, "text": format!("hello {i}")});
            let _ = c.post(format!("{base}/api/messages")).send_json(&msg).await;
            if i % 10 == 0 {
                // Rejected on purpose: the rejected-ingest series must carry data.
                let _ = c
                    .post(format!("{base}/api/messages"))
                    .insert_header(("content-type", "text/plain"))
                    .send_body("nope")
                    .await;
            }
            for path in [
                "/api/metrics".to_owned(),
                "/api/messages?limit=5".to_owned(),
                format!("/api/messages?limit=5&channel={SECRET_CHANNEL}"),
                "/api/channels".to_owned(),
                "/api/users?sort=recent".to_owned(),
                format!("/api/users/{SECRET_USER}"),
                "/api/search?q=hello".to_owned(),
                "/healthz".to_owned(),
            ] {
                if let Ok(mut r) = c.get(format!("{base}{path}")).send().await {
                    let _ = r.body().await;
                }
            }
            actix_rt::time::sleep(Duration::from_millis(200)).await;
        }
    }));
    tasks
}

#[actix_rt::test]
async fn promtool_finds_nothing_to_complain_about_and_labels_are_bounded() {
    let promtool = tool("promtool");
    let server = start_server().await;
    let traffic = drive_traffic(&server).await;
    actix_rt::time::sleep(Duration::from_secs(3)).await;
    let (status, text) = get_text(&server.url("/metrics")).await;
    assert_eq!(status, 200);
    for t in traffic {
        t.abort();
    }

    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "promtool check metrics ({}) complained:\n{complaints}",
        out.status
    );

    // The metrics the issue asks for, by name.
    for name in [
        "chatpulse_build_info",
        "chatpulse_ingest_requests_total",
        "chatpulse_ingest_messages_total",
        "chatpulse_ingest_duplicates_total",
        "chatpulse_ingest_rejected_total",
        "chatpulse_ingest_queue_depth",
        "chatpulse_ingest_batch_size_bucket",
        "chatpulse_ingest_commit_duration_seconds_bucket",
        "chatpulse_ingest_request_duration_seconds_bucket",
        "chatpulse_live_connections",
        "chatpulse_live_connections_opened_total",
        "chatpulse_live_connections_closed_total",
        "chatpulse_live_events_sent_total",
        "chatpulse_live_catchup_events_total",
        "chatpulse_live_fallbacks_total",
        "chatpulse_live_delivery_seconds_bucket",
        "chatpulse_live_rooms",
        "chatpulse_http_requests_total",
        "chatpulse_http_request_duration_seconds_bucket",
        "chatpulse_store_rows",
        "chatpulse_store_file_size_bytes",
        "chatpulse_store_read_duration_seconds_bucket",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "/metrics has no {name}"
        );
    }
    for le in ["0.001", "0.005", "0.01", "0.05", "0.1", "1", "2"] {
        assert!(
            text.contains(&format!("chatpulse_live_delivery_seconds_bucket{{le=\"{le}\"}}")),
            "delivery latency has no bucket at {le} s"
        );
    }

    // Labels are bounded: known names only, route templates only, never a user or channel.
    let allowed: HashSet<&str> = [
        "version",
        "outcome",
        "reason",
        "transport",
        "view",
        "type",
        "route",
        "method",
        "status",
        "table",
        "file",
        "query",
        "le",
        // IRC lines: a fixed set (chatpulse::metrics::IRC_LINE_KINDS), never a channel.
        "kind",
    ]
    .into_iter()
    .collect();
    let mut routes = HashSet::new();
    for sample in samples(&text) {
        let line = &sample.line;
        for (name, value) in sample.labels {
            assert!(allowed.contains(name.as_str()), "unexpected label {name} in {line}");
            assert!(
                !value.contains(SECRET_USER) && !value.contains(SECRET_CHANNEL),
                "a user or channel name is a label value: {line}"
            );
            if name == "route" {
                routes.insert(value);
            }
        }
    }
    assert!(
        routes.contains("/api/users/{name}"),
        "route label is not the template: {routes:?}"
    );
    assert!(routes.contains("/api/messages"), "{routes:?}");
    for r in &routes {
        assert!(r == "unmatched" || r.starts_with('/'), "route label {r}");
    }
    assert!(
        server
            .log_tail(usize::MAX)
            .contains("ingest rejected reason=unsupported_media_type"),
        "a rejected ingest is logged with its reason:\n{}",
        server.log_tail(usize::MAX)
    );
}

/// A Prometheus server on a free loopback port scraping `targets` every second.
struct Prometheus {
    base: String,
    dir: tempfile::TempDir,
    _proc: Proc,
}

impl Prometheus {
    fn start(targets: &[&str]) -> Prometheus {
        let targets = targets.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
        let bin = tool("prometheus");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{targets}]\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Prometheus {
            base: format!("http://127.0.0.1:{port}"),
            dir,
            _proc: Proc(child),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `/api/v1/query` at the current time: the response's `data`, or why it failed.
    async fn query(&self, expr: &str) -> Result<Value, String> {
        let mut res = client()
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", expr)])
            .map_err(|e| e.to_string())?
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let body = res.body().limit(64 << 20).await.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{} {}: {e}", res.status(), String::from_utf8_lossy(&body)))?;
        if v["status"] != "success" {
            return Err(format!("{}: {} {}", res.status(), v["errorType"], v["error"]));
        }
        Ok(v["data"].clone())
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(r) = client().get(format!("{}/-/ready", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus did not become ready:\n{}",
                self.log()
            );
            actix_rt::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until `n` successful scrapes of `job` are stored.
    async fn wait_scrapes(&self, n: u32) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let expr = format!("sum_over_time(up{{job=\"{JOB}\"}}[5m])");
        loop {
            if let Ok(data) = self.query(&expr).await {
                let done = data["result"]
                    .as_array()
                    .and_then(|r| r.first())
                    .and_then(|s| s["value"][1].as_str())
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v >= n as f64);
                if done {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus did not scrape chatpulse {n} times:\n{}",
                self.log()
            );
            actix_rt::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(DASHBOARD).expect("grafana/dashboards/chatpulse.json");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every panel, including those nested in collapsed rows.
fn all_panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested.iter());
        }
    }
    out
}

/// Grafana's substitutions, as they would be on a dashboard scoped to one instance.
fn substitute(expr: &str, instance: &str) -> String {
    expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("${__rate_interval}", RATE_INTERVAL)
        .replace("${DS_PROMETHEUS}", "prometheus")
        .replace("${job}", JOB)
        .replace("$job", JOB)
        .replace("${instance}", instance)
        .replace("$instance", instance)
}

#[actix_rt::test]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    tool("promtool");
    let server = start_server().await;
    let prometheus = Prometheus::start(&[server.host_port()]);
    let traffic = drive_traffic(&server).await;
    prometheus.wait_ready().await;
    prometheus.wait_scrapes(6).await;

    let d = dashboard();
    let mut failures = Vec::new();
    let mut evaluated = 0;
    let mut check = |what: String, expr: String, result: Result<Value, String>| {
        evaluated += 1;
        match result {
            Err(e) => failures.push(format!("{what}: invalid: {e}\n    {expr}")),
            Ok(data) => {
                let series = data["result"].as_array().cloned().unwrap_or_default();
                if series.is_empty() {
                    failures.push(format!("{what}: no data\n    {expr}"));
                } else if !series
                    .iter()
                    .any(|s| s["value"][1].as_str().is_some_and(|v| v != "NaN"))
                {
                    failures.push(format!("{what}: only NaN\n    {expr}"));
                }
            }
        }
    };
    for panel in all_panels(&d) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = substitute(target["expr"].as_str().unwrap_or(""), server.host_port());
            let what = format!("panel {:?} target {}", panel["title"], target["refId"]);
            let result = prometheus.query(&expr).await;
            check(what, expr, result);
        }
    }
    // The job and instance variables' `label_values(metric, label)`, in PromQL.
    for var in d["templating"]["list"].as_array().unwrap() {
        let Some(def) = var["definition"].as_str() else {
            continue;
        };
        let Some(inner) = def.strip_prefix("label_values(").and_then(|s| s.strip_suffix(')')) else {
            continue;
        };
        let (metric, label) = inner.rsplit_once(',').unwrap();
        let expr = substitute(
            &format!("group by ({}) ({})", label.trim(), metric.trim()),
            server.host_port(),
        );
        let result = prometheus.query(&expr).await;
        check(format!("variable {}", var["name"]), expr, result);
    }
    for t in traffic {
        t.abort();
    }
    assert!(evaluated > 20, "only {evaluated} queries in the dashboard");
    assert!(
        failures.is_empty(),
        "{} of {evaluated} dashboard queries failed:\n{}\n--- chatpulse log ---\n{}",
        failures.len(),
        failures.join("\n"),
        server.log_tail(usize::MAX)
    );
}

#[test]
fn the_dashboard_is_importable_and_provisionable() {
    let d = dashboard();
    let ds = serde_json::json!({"type": "prometheus", "uid": DS_REF});

    // Importable through the UI: a DS_PROMETHEUS datasource input.
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["type"] == "datasource" && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS datasource input"
    );
    // Provisionable from a file: a DS_PROMETHEUS datasource variable, plus job and instance.
    let vars: HashMap<&str, &Value> = d["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    let dsvar = vars.get("DS_PROMETHEUS").expect("a DS_PROMETHEUS variable");
    assert_eq!(dsvar["type"], "datasource");
    assert_eq!(dsvar["query"], "prometheus");
    for name in ["job", "instance"] {
        let v = vars.get(name).unwrap_or_else(|| panic!("no {name} variable"));
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(v["datasource"], ds, "{name} variable's datasource");
    }
    assert!(
        d["uid"].is_string() && d["id"].is_null(),
        "a stable dashboard uid and no database id"
    );

    // No hard-coded datasource anywhere: every datasource reference is the variable.
    fn walk(v: &Value, path: &str, bad: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let here = format!("{path}/{k}");
                    if k == "datasource" {
                        let ok = match v {
                            Value::Object(o) => o.get("uid").and_then(Value::as_str) == Some(DS_REF),
                            Value::String(s) => s == DS_REF,
                            _ => false,
                        };
                        if !ok {
                            bad.push(format!("{here} = {v}"));
                        }
                    }
                    walk(v, &here, bad);
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, &format!("{path}/{i}"), bad)),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(&d, "", &mut bad);
    assert!(
        bad.is_empty(),
        "datasources not on ${{DS_PROMETHEUS}}:\n{}",
        bad.join("\n")
    );

    let panels = all_panels(&d);
    let mut ids = HashSet::new();
    let mut boxes: Vec<(i64, i64, i64, i64, String)> = Vec::new();
    let mut exprs = Vec::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("?").to_owned();
        let id = p["id"].as_i64().unwrap_or_else(|| panic!("panel {title} has no id"));
        assert!(ids.insert(id), "panel id {id} ({title}) is not unique");
        assert_eq!(p["datasource"], ds, "panel {title} is not on the datasource variable");
        let g = &p["gridPos"];
        let [h, w, x, y] = ["h", "w", "x", "y"].map(|k| {
            g[k].as_i64()
                .unwrap_or_else(|| panic!("panel {title}: gridPos.{k} missing"))
        });
        assert!(
            h > 0 && (1..=24).contains(&w) && x >= 0 && x + w <= 24 && y >= 0,
            "panel {title}: gridPos {g}"
        );
        for (bx, by, bw, bh, other) in &boxes {
            let overlap = x < bx + bw && *bx < x + w && y < by + bh && *by < y + h;
            assert!(!overlap, "panels {title} and {other} overlap");
        }
        boxes.push((x, y, w, h, title.clone()));
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {title} has no targets"));
        assert!(!targets.is_empty(), "panel {title} has no targets");
        let mut refs = HashSet::new();
        for t in targets {
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title}: a target has no expr"));
            assert!(
                refs.insert(t["refId"].as_str().unwrap_or("")),
                "panel {title}: refIds repeat"
            );
            assert!(
                expr.contains("job=~\"$job\"") && expr.contains("instance=~\"$instance\""),
                "panel {title}: not scoped to $job and $instance: {expr}"
            );
            // Every range is $__rate_interval, so rates follow the scrape interval.
            for (i, _) in expr.match_indices('[') {
                assert!(
                    expr[i..].starts_with("[$__rate_interval]"),
                    "panel {title}: a range other than $__rate_interval: {expr}"
                );
            }
            if expr.contains("rate(") {
                assert!(expr.contains("$__rate_interval"), "panel {title}: {expr}");
            }
            exprs.push(expr.to_owned());
        }
    }
    let all = exprs.join("\n");
    for metric in [
        "chatpulse_ingest_messages_total",
        "chatpulse_ingest_rejected_total",
        "chatpulse_live_connections{",
        "chatpulse_live_connections_opened_total",
        "chatpulse_live_connections_closed_total",
        "chatpulse_live_events_sent_total",
        "chatpulse_live_fallbacks_total",
        "chatpulse_live_delivery_seconds_bucket",
        "chatpulse_ingest_queue_depth",
        "chatpulse_ingest_batch_size_bucket",
        "chatpulse_ingest_commit_duration_seconds_bucket",
        "chatpulse_ingest_request_duration_seconds_bucket",
        "chatpulse_store_rows",
        "chatpulse_store_read_duration_seconds_bucket",
        "chatpulse_http_request_duration_seconds_bucket",
        "chatpulse_http_requests_total",
        "chatpulse_store_file_size_bytes",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(all.contains(metric), "no panel shows {metric}");
    }
    for q in [
        "histogram_quantile(0.5,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
    ] {
        assert!(all.contains(q), "no {q} panel");
    }

    // Provisioning files beside it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/provisioning");
    for sub in ["datasources", "dashboards"] {
        let yamls: Vec<String> = std::fs::read_dir(root.join(sub))
            .unwrap_or_else(|e| panic!("grafana/provisioning/{sub}: {e}"))
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        assert!(
            yamls.iter().any(|y| y.contains("apiVersion: 1")),
            "no provisioning file in grafana/provisioning/{sub}"
        );
    }
}

/// The panels of the dashboard row titled `title`.
fn row_panels<'a>(d: &'a Value, title: &str) -> Vec<&'a Value> {
    let panels = d["panels"].as_array().expect("panels");
    let start = panels
        .iter()
        .position(|p| p["type"] == "row" && p["title"] == title)
        .unwrap_or_else(|| panic!("no row {title:?}"));
    panels[start + 1..].iter().take_while(|p| p["type"] != "row").collect()
}

#[actix_rt::test]
async fn the_several_nodes_row_returns_data_from_a_real_prometheus_scraping_two_nodes() {
    tool("promtool");
    let redis = RedisServer::start();
    let cluster = TestCluster::builder().nodes(2).bus(redis.url()).start().await;
    // A writer on the same database without a bus: its commits reach the nodes only
    // through gap fills, so that series carries more than zeros.
    let silent = TestApp::builder().database_url(cluster.database_url()).start().await;
    let (a, b) = (
        cluster.node(0).host_port().to_owned(),
        cluster.node(1).host_port().to_owned(),
    );
    let prometheus = Prometheus::start(&[&a, &b]);
    let traffic = {
        let (writer, quiet) = (cluster.node(0).api.clone(), silent.api.clone());
        actix_rt::spawn(async move {
            for i in 0.. {
                let _ = writer
                    .try_post_json(&serde_json::json!(numbered("general", "alice", &format!("n{i}"), 3)))
                    .await;
                if i % 5 == 0 {
                    let _ = quiet
                        .try_post_json(&serde_json::json!(numbered("general", "bob", &format!("q{i}"), 1)))
                        .await;
                }
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    prometheus.wait_ready().await;
    prometheus.wait_scrapes(12).await;

    let d = dashboard();
    let panels = row_panels(&d, "Several nodes");
    assert_eq!(panels.len(), 4, "the row's panels: {panels:?}");
    let mut failures = Vec::new();
    let mut best = HashMap::new();
    for instance in [&a, &b] {
        for panel in &panels {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = substitute(target["expr"].as_str().unwrap_or(""), instance);
                let what = format!("{instance}: panel {:?} target {}", panel["title"], target["refId"]);
                match prometheus.query(&expr).await {
                    Err(e) => failures.push(format!("{what}: invalid: {e}\n    {expr}")),
                    Ok(data) => {
                        let values: Vec<f64> = data["result"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s["value"][1].as_str()?.parse().ok())
                            .filter(|v: &f64| !v.is_nan())
                            .collect();
                        if values.is_empty() {
                            failures.push(format!("{what}: no data\n    {expr}"));
                        }
                        let key = (
                            instance.to_string(),
                            panel["title"].to_string(),
                            target["refId"].to_string(),
                        );
                        best.insert(key, values.into_iter().fold(f64::MIN, f64::max));
                    }
                }
            }
        }
    }
    traffic.abort();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let value = |instance: &str, title: &str, refid: &str| {
        best[&(instance.to_owned(), format!("{title:?}"), format!("{refid:?}"))]
    };
    assert_eq!(value(&a, "Bus up", "A"), 1.0, "node 0 reads the bus");
    assert!(value(&a, "Bus entries", "A") > 0.0, "node 0 publishes its commits");
    assert!(value(&b, "Bus entries", "B") > 0.0, "node 1 reads node 0's commits");
    assert!(
        value(&b, "Gap fills from the database", "B") > 0.0,
        "node 1 filled the silent writer's commits from the database"
    );
}
