//! HTTP clients and the server's counters read over HTTP.
use crate::prelude::*;

pub(crate) fn http_client(limit: usize, timeout: Option<Duration>, local: Option<IpAddr>) -> awc::Client {
    let mut c = awc::Connector::new()
        .limit(limit)
        .conn_keep_alive(Duration::from_secs(2));
    if let Some(ip) = local {
        c = c.local_address(ip);
    }
    let b = awc::Client::builder().connector(c);
    match timeout {
        Some(t) => b.timeout(t).finish(),
        None => b.disable_timeout().finish(),
    }
}

pub(crate) async fn post(client: &awc::Client, url: &str, body: Bytes) -> Result<(u16, Value), String> {
    let mut res = client
        .post(url)
        .insert_header(("content-type", "application/json"))
        .send_body(body)
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body = res.body().limit(64 << 20).await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

pub(crate) async fn get_text(client: &awc::Client, url: &str) -> Result<String, String> {
    let mut res = client.get(url).send().await.map_err(|e| e.to_string())?;
    let body = res.body().limit(64 << 20).await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub(crate) async fn api_metrics(client: &awc::Client, server: &Server) -> Value {
    let t = get_text(client, &server.url("/api/metrics"))
        .await
        .expect("GET /api/metrics");
    serde_json::from_str(&t).expect("/api/metrics is JSON")
}

/// Sum of the Prometheus samples matching `query` (`name{label="value"}`, labels a
/// subset): 0 when none is exposed yet, NaN when `/metrics` cannot be read.
pub(crate) async fn prom_sum(client: &awc::Client, server: &Server, query: &str) -> f64 {
    let Ok(text) = get_text(client, &server.url("/metrics")).await else {
        return f64::NAN;
    };
    chatpulse_testkit::parse_metric(&text, query).unwrap_or(0.0)
}

/// Live connections the server closed because their client fell behind: a full queue
/// (`overflow`) or a socket that accepted nothing for `--write-timeout-ms` (`timeout`).
pub(crate) async fn cut_off_total(client: &awc::Client, server: &Server) -> f64 {
    prom_sum(
        client,
        server,
        r#"chatpulse_live_connections_closed_total{reason="overflow"}"#,
    )
    .await
        + prom_sum(
            client,
            server,
            r#"chatpulse_live_connections_closed_total{reason="timeout"}"#,
        )
        .await
}
