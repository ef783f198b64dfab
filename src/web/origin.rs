//! Where a request was sent, and whether to answer it. The host and scheme a client
//! reached the server by come from the request itself; `Forwarded` and `X-Forwarded-*`
//! headers are believed only from `--trusted-proxies`. A request for a host name that is
//! not ours is refused before any handler runs: a page on another site whose name is made
//! to resolve to this machine (DNS rebinding) can then neither read it nor write to it.
use std::net::IpAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};

use crate::error::ApiError;

/// Who may reach the server, and from where.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// `--public-origin`: the origins people reach the server by (`https://chat.example.com`).
    public: Vec<String>,
    /// `--allowed-origins`: other sites whose pages may open WebSockets here.
    allowed: Vec<String>,
    /// `--trusted-proxies`: peers whose forwarded headers say where the request was sent.
    trusted_proxies: Vec<IpAddr>,
}

/// Operator endpoints answered whatever the host: a scraper often knows the server by a
/// name of its own, and they hold nothing a page could misuse.
const ANY_HOST: &[&str] = &["/healthz", "/metrics"];

impl Origins {
    pub fn new(public: Vec<String>, allowed: Vec<String>, trusted_proxies: Vec<IpAddr>) -> Self {
        let trim = |v: Vec<String>| v.into_iter().map(|o| o.trim_end_matches('/').to_owned()).collect();
        Origins {
            public: trim(public),
            allowed: trim(allowed),
            trusted_proxies,
        }
    }

    fn trusts(&self, req: &HttpRequest) -> bool {
        req.peer_addr().is_some_and(|a| self.trusted_proxies.contains(&a.ip()))
    }

    /// `scheme://host` as the client reached it.
    pub fn reached(&self, req: &HttpRequest) -> String {
        if self.trusts(req) {
            let info = req.connection_info();
            return format!("{}://{}", info.scheme(), info.host());
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or_default();
        // This server speaks plain HTTP; TLS, if any, ends at a proxy.
        format!("http://{host}")
    }

    /// Whether a request for `scheme://host` is ours: a host that is an IP address or
    /// `localhost` (no DNS name to rebind), or one of the public origins' hosts.
    fn host_allowed(&self, reached: &str) -> bool {
        let host = reached.split_once("://").map_or(reached, |(_, h)| h);
        if self
            .public
            .iter()
            .any(|o| o.split_once("://").is_some_and(|(_, h)| h.eq_ignore_ascii_case(host)))
        {
            return true;
        }
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host, |(name, _)| name),
        };
        name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
    }

    /// Whether a WebSocket handshake's `Origin` may open a connection: none (scripts), the
    /// origin the client reached, a public origin, or an allowed one. Scheme included.
    pub fn origin_allowed(&self, req: &HttpRequest) -> bool {
        let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return true;
        };
        let origin = origin.trim_end_matches('/');
        origin.eq_ignore_ascii_case(&self.reached(req))
            || self
                .public
                .iter()
                .chain(&self.allowed)
                .any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// Middleware (`middleware::from_fn(origin::guard)`): refuses a request for a host that is
/// not ours with 421 before any handler runs.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let refused = match req.app_data::<web::Data<Origins>>() {
        Some(origins) if !ANY_HOST.contains(&req.path()) => {
            let reached = origins.reached(req.request());
            (!origins.host_allowed(&reached)).then_some(reached)
        }
        _ => None,
    };
    match refused {
        Some(reached) => {
            log::info!("request refused reason=host reached={reached}");
            let e = ApiError::MisdirectedHost(format!(
                "this server does not answer for {reached}; an operator can add it with --public-origin"
            ));
            Ok(req.error_response(e))
        }
        None => Ok(next.call(req).await?.map_into_boxed_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_without_a_name_to_rebind_and_public_ones_are_ours() {
        let o = Origins::new(vec!["https://chat.example.com/".into()], vec![], vec![]);
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://[::1]:8080",
            "http://10.0.0.7",
            "https://chat.example.com",
        ] {
            assert!(o.host_allowed(ok), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "http://evil.example:8080",
            "http://127.0.0.1.evil.example",
            "http://",
        ] {
            assert!(!o.host_allowed(bad), "{bad}");
        }
    }
}
