//! The HTTP listener (`[listen] http`, and `https` with the `[tls]` certificate): mail
//! clients that configure themselves, and what monitoring asks.
//!
//! | path | method | what |
//! |---|---|---|
//! | `/.well-known/autoconfig/mail/config-v1.1.xml`, `/mail/config-v1.1.xml` | GET | Thunderbird autoconfig ([`autoconfig`]) |
//! | `/autodiscover/autodiscover.xml` (any case) | POST | Outlook POX Autodiscover ([`autodiscover`]) |
//! | `/apple/mail.mobileconfig?emailaddress=…` | GET | Apple profile ([`mobileconfig`]) |
//! | `/metrics` | GET | Prometheus text format 0.0.4 |
//! | `/healthz` | GET | 200 when the store answers and every listener is up, else 503 |
//!
//! GET routes answer HEAD too; another method is `405` with `Allow`, another path
//! `404`. HTTP/1.1 only (RFC 9112), served by hyper on the accept loop every daemon
//! uses (`mailyard_common::listener`: connection permits before accept, per-address
//! limits, shutdown).
//!
//! Hardening (each a named constant below): a request's header section must arrive
//! within [`REQUEST_TIMEOUT`] (slowloris; also the idle time of a kept-alive
//! connection) and fit in [`MAX_HEADER_BYTES`] and [`MAX_HEADERS`] fields, else `431`
//! and the connection is closed (RFC 6585 §5); a body is read only by Autodiscover, at
//! most [`autodiscover::MAX_REQUEST_BODY`] (else `413`) within [`REQUEST_TIMEOUT`]
//! (else `408`); a connection lives at most [`MAX_CONNECTION_TIME`].
//!
//! Which domain a client is configured for: the domain of `?emailaddress=` (or of the
//! Autodiscover request's `EMailAddress`) when given, which must be local (else
//! `404`); otherwise the Host, as `autoconfig.<domain>`, `autodiscover.<domain>` or
//! `<domain>`, when local; otherwise the first local domain.
#![forbid(unsafe_code)]

pub mod autoconfig;
pub mod autodiscover;
pub mod endpoints;
mod metrics;
pub mod mobileconfig;
mod xml;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use mailyard_common::Config;
use mailyard_common::listener::Slot;
use mailyard_common::metrics::{Metrics, Outcome};
use mailyard_common::shutdown::Shutdown;
use mailyard_common::stream::Stream;
use mailyard_common::throttle::PerIpConnections;
use mailyard_store::{Address, Store};
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use endpoints::Endpoints;

/// Time for a request's header section to arrive (and for a kept-alive connection to
/// send its next request), and for Autodiscover's body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request line plus header section, in bytes; more is `431`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields in one request; more is `431`.
pub const MAX_HEADERS: usize = 64;
/// hyper's read buffer (at least its minimum of 8 KiB): a header section and a body
/// chunk.
const READ_BUFFER: usize = 64 * 1024;
/// Longest a connection is kept, however busy; then it is closed after the response
/// under way.
pub const MAX_CONNECTION_TIME: Duration = Duration::from_secs(120);
/// Longest `/healthz` and `/metrics` wait for the store's read.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// What every HTTP connection shares.
pub struct Context {
    config: Arc<Config>,
    store: Store,
    tls: Arc<ServerConfig>,
    metrics: Arc<Metrics>,
    per_ip: PerIpConnections,
    endpoints: Endpoints,
    /// The listeners `/healthz` expects up.
    listeners: Vec<&'static str>,
}

impl Context {
    /// The shared context: `metrics` is the server's registry (rendered by
    /// `/metrics`, and where HTTP connections are counted); `/healthz` checks every
    /// listener of `config`. `bound` holds the mail listeners already bound, so a port
    /// configured as 0 is told to clients as the one it got.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        tls: Arc<ServerConfig>,
        metrics: Arc<Metrics>,
        bound: &[(&'static str, SocketAddr)],
    ) -> Self {
        Context {
            endpoints: Endpoints::from_config(&config, bound),
            listeners: config.listeners().into_iter().map(|(n, _)| n).collect(),
            config,
            store,
            tls,
            metrics,
            per_ip: PerIpConnections::default(),
        }
    }
}

/// Accepts HTTP connections on `listener` until shutdown; `implicit_tls` for the
/// `https` listener (RFC 2818: TLS from the first byte).
pub async fn serve(
    listener: TcpListener,
    implicit_tls: bool,
    ctx: Arc<Context>,
    shutdown: Shutdown,
) {
    let max = ctx.config.limits.max_connections;
    let name = if implicit_tls { "https" } else { "http" };
    let metrics = ctx.metrics.clone();
    let sd = shutdown.clone();
    mailyard_common::listener::accept_loop(
        name,
        listener,
        shutdown,
        max,
        &metrics,
        move |tcp: TcpStream, peer: SocketAddr, slot: Option<Slot>| {
            connection(ctx.clone(), implicit_tls, tcp, peer, slot, sd.clone())
        },
    )
    .await;
}

/// One connection, its requests one after another (HTTP/1.1 keep-alive).
async fn connection(
    ctx: Arc<Context>,
    implicit_tls: bool,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Option<Slot>,
    shutdown: Shutdown,
) {
    let max_per_ip = ctx.config.limits.max_connections_per_ip;
    let Ok(_places) = mailyard_common::listener::admit(slot, &ctx.per_ip, peer.ip(), max_per_ip)
    else {
        if !implicit_tls {
            let mut tcp = tcp;
            let _ = tcp
                .write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
                      Content-Length: 0\r\nRetry-After: 10\r\n\r\n",
                )
                .await;
        }
        ctx.metrics.session_ended("http", Outcome::Refused);
        return;
    };
    let Ok(stream) = Stream::accept(tcp, implicit_tls.then(|| ctx.tls.clone())).await else {
        ctx.metrics.session_ended("http", Outcome::Error);
        return;
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT)
        .max_buf_size(READ_BUFFER)
        .max_header_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let service_ctx = ctx.clone();
    let service = hyper::service::service_fn(move |req| {
        let ctx = service_ctx.clone();
        async move { Ok::<_, Infallible>(respond(&ctx, req).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let (result, ended) = tokio::select! {
        r = conn.as_mut() => (Some(r), None),
        _ = shutdown.token.cancelled() => (None, Some(Outcome::Shutdown)),
        _ = tokio::time::sleep(MAX_CONNECTION_TIME) => (None, Some(Outcome::Timeout)),
    };
    let result = match result {
        Some(r) => r,
        None => {
            // Finish the response under way, then close.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, conn.as_mut()).await;
            Ok(())
        }
    };
    let outcome = ended.unwrap_or(match &result {
        Ok(()) => Outcome::Closed,
        Err(e) if e.is_timeout() => Outcome::Timeout,
        Err(e) if e.is_incomplete_message() => Outcome::Eof,
        Err(_) => Outcome::Error,
    });
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "http connection ended");
    }
    ctx.metrics.session_ended("http", outcome);
}

/// The routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Autoconfig,
    Autodiscover,
    Mobileconfig,
    Metrics,
    Healthz,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        Some(match path {
            "/.well-known/autoconfig/mail/config-v1.1.xml" | "/mail/config-v1.1.xml" => {
                Route::Autoconfig
            }
            "/apple/mail.mobileconfig" => Route::Mobileconfig,
            "/metrics" => Route::Metrics,
            "/healthz" => Route::Healthz,
            // Outlook asks for `/Autodiscover/Autodiscover.xml` too.
            p if p.eq_ignore_ascii_case("/autodiscover/autodiscover.xml") => Route::Autodiscover,
            _ => return None,
        })
    }

    /// The methods it answers, for `Allow`.
    fn allow(self) -> &'static str {
        match self {
            Route::Autodiscover => "POST",
            _ => "GET, HEAD",
        }
    }

    fn allows(self, m: &Method) -> bool {
        match self {
            Route::Autodiscover => m == Method::POST,
            _ => m == Method::GET || m == Method::HEAD,
        }
    }
}

type Reply = Response<Full<Bytes>>;

/// A response with a body and its content type.
fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A short plain-text answer (errors, `/healthz`).
fn text(status: StatusCode, body: impl Into<String>) -> Reply {
    let mut body = body.into();
    body.push('\n');
    reply(status, "text/plain; charset=utf-8", body)
}

const XML: &str = "application/xml; charset=utf-8";

/// Answers one request, and counts the answer.
async fn respond(ctx: &Context, req: Request<Incoming>) -> Reply {
    let r = match Route::of(req.uri().path()) {
        None => text(StatusCode::NOT_FOUND, "not found"),
        Some(route) if !route.allows(req.method()) => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(route.allow()));
            r
        }
        Some(Route::Autoconfig) => handle_autoconfig(ctx, &req).await,
        Some(Route::Mobileconfig) => handle_mobileconfig(ctx, &req).await,
        Some(Route::Autodiscover) => handle_autodiscover(ctx, req).await,
        Some(Route::Metrics) => handle_metrics(ctx).await,
        Some(Route::Healthz) => handle_healthz(ctx).await,
    };
    ctx.metrics.http_responses.get(r.status().as_u16()).inc();
    r
}

/// The `emailaddress` query parameter (Thunderbird's name; any case).
fn email_param(req: &Request<Incoming>) -> Option<String> {
    let query = req.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("emailaddress"))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The Host without its port and trailing dot, lower-cased (RFC 9110 §7.2), or the
/// authority of an absolute request target.
fn host_name(req: &Request<Incoming>) -> Option<String> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().host().map(str::to_string))?;
    let host = host.trim();
    let name = if host.starts_with('[') {
        // An IPv6 literal names no mail domain.
        return None;
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    Some(name.trim_end_matches('.').to_ascii_lowercase())
}

/// Which domain (and address, when the client named one) to configure: see the
/// crate docs. Errors are the response to send.
async fn pick_domain(
    ctx: &Context,
    address: Option<&str>,
    host: Option<String>,
) -> Result<(String, Option<Address>), Reply> {
    let address = match address {
        Some(a) => Some(
            Address::parse(a)
                .map_err(|_| text(StatusCode::BAD_REQUEST, "emailaddress is not an address"))?,
        ),
        None => None,
    };
    // The address's domain, else the host name asked for (without its autoconfig
    // label), else our first domain.
    let candidates: Vec<String> = match (address.as_ref(), host) {
        (Some(a), _) => vec![a.domain().to_string()],
        (None, Some(host)) => ["autoconfig.", "autodiscover."]
            .iter()
            .find_map(|p| host.strip_prefix(p))
            .map(str::to_string)
            .into_iter()
            .chain([host.clone()])
            .collect(),
        (None, None) => Vec::new(),
    };
    let wanted_only = address.is_some();
    let found = ctx.store.local_domain_among(candidates.clone()).await;
    // With an address, only its own domain will do.
    let found = found.map(|d| d.filter(|d| !wanted_only || candidates.contains(d)));
    match found {
        Ok(Some(d)) => Ok((d, address)),
        Ok(None) => Err(text(StatusCode::NOT_FOUND, "no such mail domain here")),
        Err(e) => {
            tracing::error!(error = %e, "http: cannot read the domains");
            Err(text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable"))
        }
    }
}

/// Thunderbird autoconfig: GET, with or without `?emailaddress=`.
async fn handle_autoconfig(ctx: &Context, req: &Request<Incoming>) -> Reply {
    let address = email_param(req);
    match pick_domain(ctx, address.as_deref(), host_name(req)).await {
        Ok((domain, _)) => reply(
            StatusCode::OK,
            XML,
            autoconfig::render(&domain, &ctx.endpoints),
        ),
        Err(r) => r,
    }
}

/// Apple profile: GET with `?emailaddress=` (required: the profile is per account).
async fn handle_mobileconfig(ctx: &Context, req: &Request<Incoming>) -> Reply {
    let Some(address) = email_param(req) else {
        return text(StatusCode::BAD_REQUEST, "emailaddress is required");
    };
    let (domain, address) = match pick_domain(ctx, Some(&address), None).await {
        Ok((d, Some(a))) => (d, a.to_string()),
        Ok((_, None)) => return text(StatusCode::BAD_REQUEST, "emailaddress is required"),
        Err(r) => return r,
    };
    match mobileconfig::render(&domain, &address, &ctx.endpoints) {
        Some(profile) => {
            let mut r = reply(StatusCode::OK, mobileconfig::CONTENT_TYPE, profile);
            // The domain is validated (letters, digits, '-', '.'): safe in the header.
            if let Ok(v) =
                HeaderValue::from_str(&format!("attachment; filename=\"{domain}.mobileconfig\""))
            {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        None => text(
            StatusCode::NOT_FOUND,
            "no IMAP or no submission listener to configure",
        ),
    }
}

/// Outlook Autodiscover: POST of a POX request, its body capped.
async fn handle_autodiscover(ctx: &Context, req: Request<Incoming>) -> Reply {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > autodiscover::MAX_REQUEST_BODY as u64) {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "request too large");
    }
    let body = Limited::new(req.into_body(), autodiscover::MAX_REQUEST_BODY);
    let body = match tokio::time::timeout(REQUEST_TIMEOUT, body.collect()).await {
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "request body too slow"),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return text(StatusCode::PAYLOAD_TOO_LARGE, "request too large");
        }
        Ok(Err(_)) => return text(StatusCode::BAD_REQUEST, "request body unreadable"),
        Ok(Ok(c)) => c.to_bytes(),
    };
    let address = match autodiscover::parse_request(&body) {
        Ok(a) => a,
        Err(autodiscover::RequestError::BadXml(e)) => {
            return text(StatusCode::BAD_REQUEST, format!("bad XML: {e}"));
        }
        Err(autodiscover::RequestError::NoAddress) => {
            return text(StatusCode::BAD_REQUEST, "no EMailAddress in the request");
        }
    };
    match pick_domain(ctx, Some(&address), None).await {
        Ok(_) => reply(
            StatusCode::OK,
            XML,
            autodiscover::render(&address, &ctx.endpoints),
        ),
        Err(r) => r,
    }
}

/// The store's sizes, or None when it did not answer within [`STORE_TIMEOUT`].
async fn store_usage(ctx: &Context) -> Option<mailyard_store::stats::Usage> {
    match tokio::time::timeout(STORE_TIMEOUT, ctx.store.usage()).await {
        Ok(Ok(u)) => Some(u),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: cannot read the store's sizes");
            None
        }
        _ => None,
    }
}

/// `/metrics`: Prometheus text exposition format 0.0.4.
async fn handle_metrics(ctx: &Context) -> Reply {
    let usage = store_usage(ctx).await;
    reply(
        StatusCode::OK,
        mailyard_common::metrics::CONTENT_TYPE,
        metrics::render(&ctx.metrics, &ctx.store, usage),
    )
}

/// `/healthz`: 200 `ok` when a read through the store answers (and its writer runs) within
/// [`STORE_TIMEOUT`] and every configured listener's accept loop runs; else 503
/// naming what is wrong.
async fn handle_healthz(ctx: &Context) -> Reply {
    let mut problems = Vec::new();
    match tokio::time::timeout(STORE_TIMEOUT, ctx.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("store: {e}")),
        Err(_) => problems.push("store: no answer within 2 s".to_string()),
    }
    for name in &ctx.listeners {
        if ctx.metrics.listeners.get(name).up.get() != 1 {
            problems.push(format!("listener {name}: not accepting"));
        }
    }
    if problems.is_empty() {
        text(StatusCode::OK, "ok")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        let rows = [
            (
                "/.well-known/autoconfig/mail/config-v1.1.xml",
                Some(Route::Autoconfig),
            ),
            ("/mail/config-v1.1.xml", Some(Route::Autoconfig)),
            ("/Autodiscover/Autodiscover.xml", Some(Route::Autodiscover)),
            ("/autodiscover/autodiscover.xml", Some(Route::Autodiscover)),
            ("/apple/mail.mobileconfig", Some(Route::Mobileconfig)),
            ("/metrics", Some(Route::Metrics)),
            ("/healthz", Some(Route::Healthz)),
            ("/", None),
            ("/metrics/", None),
            ("/mail/config-v1.1.xml.bak", None),
        ];
        for (path, want) in rows {
            assert_eq!(Route::of(path), want, "{path}");
        }
        assert!(Route::Autodiscover.allows(&Method::POST));
        assert!(!Route::Autodiscover.allows(&Method::GET));
        assert!(Route::Metrics.allows(&Method::HEAD));
        assert!(!Route::Metrics.allows(&Method::POST));
    }
}
