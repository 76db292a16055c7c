//! `fovea serve`: the detection service's HTTP/JSON face (axum routes on hyper and tokio) over
//! the library's synchronous service core (`fovea::service`): one model, one pipeline per job.
//!
//! Safe to expose (see the README's deployment notes): its own accept loop caps connections and
//! closes those that do not send a request's header in time (also between requests: the idle
//! timeout), a request body has a deadline and a size limit, TLS by rustls, and a listener that
//! is not loopback needs a token (or `--insecure`).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Args;
use serde_json::json;

use fovea::engine::EngineConfig;
use fovea::service::{JobKind, Service, ServiceConfig, SubmitError, UrlRules};

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Engine configuration (TOML: model, runtime, threads, workers, score, classes, tracking,
    /// [rules], [tiles], [pitch]; [classifier] and teams are refused); default: the default model and settings.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Model manifest (overrides the configuration's).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed). An address other
    /// than loopback needs --token-file (or --insecure).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Listen on an address other than loopback without a token (anyone who reaches it may run
    /// jobs): only behind a proxy that authenticates.
    #[arg(long)]
    insecure: bool,
    /// Serve HTTPS: the certificate chain (PEM) and its private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Network sources jobs may read (off by default): an address, a network (10.0.0.0/8), a host
    /// name, *.domain, or `public` (any public address); repeat or separate with commas.
    /// Loopback and private addresses are refused unless listed.
    #[arg(long, value_name = "RULE", value_delimiter = ',')]
    allow_url: Vec<String>,
    /// Seconds a network source may go without a frame (per connection attempt and over all its
    /// reconnects) before its job fails.
    #[arg(long, default_value_t = 30.0)]
    source_timeout: f64,
    /// Connections open at once; more are answered 503 and closed.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Seconds a client has to send a request's header (also the idle time allowed between
    /// requests on a kept-alive connection) and to finish a TLS handshake.
    #[arg(long, default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds a client has to send a request's body.
    #[arg(long, default_value_t = 30.0)]
    body_timeout: f64,
    /// Job sources that are paths must lie under this folder.
    #[arg(long, default_value = ".", value_name = "DIR")]
    media_root: PathBuf,
    /// A file holding the bearer token every endpoint but /healthz and /readyz then requires.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Jobs running at once (default: the cores, at least 2).
    #[arg(long)]
    max_running: Option<usize>,
    /// Jobs waiting beyond those; more are refused with 429 (default: 4 per core).
    #[arg(long)]
    max_queued: Option<usize>,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_body: usize,
    /// Seconds running jobs get to finish on SIGTERM before they are cancelled.
    #[arg(long, default_value_t = 30.0)]
    grace: f64,
    /// Frames a job sends to the shared detector at a time (0: the detector's batch).
    #[arg(long, default_value_t = 0)]
    job_batch: usize,
    /// Milliseconds a model call that is not full waits for other jobs' frames.
    #[arg(long, default_value_t = 2)]
    batch_wait_ms: u64,
    /// Where jobs' results are written, one file per job (default: a folder in the system's
    /// temporary folder, removed when the service stops).
    #[arg(long, value_name = "DIR")]
    results_dir: Option<PathBuf>,
}

#[derive(Clone)]
struct App {
    svc: Arc<Service>,
    token: Option<Arc<String>>,
    max_body: usize,
    body_timeout: Duration,
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": msg.to_string()}))).into_response()
}

fn seconds(option: &str, v: f64, min: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(v.is_finite() && v >= min && v <= 1e6, "invalid option {option}: expected seconds within {min}..=1000000, got {v}");
    Ok(Duration::from_secs_f64(v))
}

pub(crate) fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let token = match &a.token_file {
        Some(p) => {
            let t = std::fs::read_to_string(p).with_context(|| format!("--token-file {}", p.display()))?.trim().to_string();
            anyhow::ensure!(
                !t.is_empty() && !t.contains(char::is_whitespace),
                "--token-file {}: expected one token without spaces",
                p.display()
            );
            Some(Arc::new(t))
        }
        None => None,
    };
    anyhow::ensure!(
        a.listen.ip().is_loopback() || token.is_some() || a.insecure,
        "--listen {}: not a loopback address, and no --token-file: anyone who reaches it could run jobs. Give --token-file \
         (and --tls-cert/--tls-key, or a TLS proxy), or --insecure if a proxy in front authenticates",
        a.listen
    );
    let grace = seconds("--grace", a.grace, 0.0)?;
    let header_timeout = seconds("--header-timeout", a.header_timeout, 0.1)?;
    let body_timeout = seconds("--body-timeout", a.body_timeout, 0.1)?;
    let source_timeout = seconds("--source-timeout", a.source_timeout, 0.1)?;
    anyhow::ensure!(
        (1..=1_000_000).contains(&a.max_connections),
        "invalid option --max-connections: expected 1..=1000000, got {}",
        a.max_connections
    );
    let allow_url = if a.allow_url.is_empty() {
        None
    } else {
        Some(UrlRules::parse(&a.allow_url).map_err(|e| anyhow::anyhow!("invalid option --allow-url: {e}"))?)
    };
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
        _ => None,
    };
    let (max_connections, cap_note) = connection_cap(a.max_connections);
    let mut engine = match &a.config {
        Some(p) => EngineConfig::load(p)?,
        None => EngineConfig::parse("", &std::env::current_dir()?)?,
    };
    if let Some(m) = &a.model {
        engine.model = crate::model::resolve_model(m);
    }
    let mut cfg = ServiceConfig::new(engine, a.media_root.clone());
    cfg.max_running = a.max_running.unwrap_or(cfg.max_running);
    cfg.max_queued = a.max_queued.unwrap_or(cfg.max_queued);
    cfg.job_batch = a.job_batch;
    cfg.batch_wait = Duration::from_millis(a.batch_wait_ms);
    cfg.results_dir = a.results_dir.clone();
    cfg.allow_url = allow_url;
    cfg.source_timeout = source_timeout;
    let (max_running, max_queued) = (cfg.max_running, cfg.max_queued);
    let svc = Service::start(cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen).await.with_context(|| format!("--listen {}", a.listen))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "fovea serve: listening on {}://{addr} ({}; media root {}; {max_running} jobs at once, {max_queued} queued; auth {}; \
             URL sources {}; at most {max_connections} connections)",
            if tls.is_some() { "https" } else { "http" },
            svc.describe(),
            a.media_root.display(),
            if token.is_some() { "bearer token" } else { "none" },
            if a.allow_url.is_empty() { "off".to_string() } else { a.allow_url.join(",") },
        );
        if let Some(note) = cap_note {
            eprintln!("fovea serve: {note}");
        }
        let app = App { svc: svc.clone(), token, max_body: a.max_body, body_timeout };
        let router = Router::new()
            .route("/v1/jobs", get(list).post(submit))
            .route("/v1/jobs/{id}", get(status).delete(cancel))
            .route("/v1/jobs/{id}/results", get(results))
            .route("/metrics", get(metrics))
            .layer(middleware::from_fn_with_state(app.clone(), auth))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint (see the README: /v1/jobs, /healthz, /readyz, /metrics)") })
            .with_state(app);
        let limits = Limits { max_connections, header_timeout, tls };
        let stopping = svc.clone();
        accept_loop(listener, router, limits, async move {
            stop_signal().await;
            eprintln!("fovea serve: stopping: no new jobs; running jobs get {:.0} s to finish", grace.as_secs_f64());
            let _ = tokio::task::spawn_blocking(move || stopping.shutdown(grace)).await;
        })
        .await;
        eprintln!("fovea serve: stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The connection cap, kept below the process's descriptor limit (raised to its hard limit
/// first) with room for the jobs' own files and sockets; and a note when it had to be lowered
/// (printed after the address line, which clients read first).
fn connection_cap(want: usize) -> (usize, Option<String>) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), max) = (lim.current, lim.maximum) {
        let target = max.unwrap_or(u64::MAX).min(1 << 20);
        if cur < target {
            lim.current = Some(target);
            if setrlimit(Resource::Nofile, lim).is_err() {
                log::warn!("cannot raise the open-files limit from {cur} to {target}");
            }
        }
    }
    let files = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let room = files.saturating_sub(256) as usize;
    let note = (want > room).then(|| format!("--max-connections {want} lowered to {room} (the open-files limit is {files})"));
    (want.min(room).max(1), note)
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("--tls-cert {}: expected PEM certificates: {e}", cert.display()))?;
    anyhow::ensure!(!certs.is_empty(), "--tls-cert {}: no certificate in it", cert.display());
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| anyhow::anyhow!("--tls-key {}: expected a PEM private key: {e}", key.display()))?;
    // ring (builds with the C compiler alone; aws-lc-rs would need cmake and NASM). rustls marks it
    // deprecated for lacking post-quantum key exchange; TLS 1.3 with X25519 is what it negotiates.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| anyhow::anyhow!("--tls-cert/--tls-key: {e}"))?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

struct Limits {
    max_connections: usize,
    header_timeout: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Accepts connections until `stop` completes, each served by hyper with the header (and idle)
/// timeout, at most `max_connections` at once; then lets open connections finish (a few seconds
/// at most: the jobs have ended by then, so their result streams have too).
async fn accept_loop(listener: tokio::net::TcpListener, router: Router, limits: Limits, stop: impl std::future::Future<Output = ()>) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let http = Arc::new(http);
    tokio::pin!(stop);
    loop {
        let (stream, _peer) = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or the like: wait a little rather than spin.
                    log::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut stream = stream;
                let body = r#"{"error":"too many connections: the service's --max-connections limit; try again"}"#;
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let (http, tls, timeout) = (http.clone(), limits.tls.clone(), limits.header_timeout);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => {
                        let _ = watcher.watch(http.serve_connection(TokioIo::new(s), service)).await;
                    }
                    Ok(Err(e)) => log::debug!("TLS handshake: {e}"),
                    Err(_) => log::debug!("TLS handshake timed out"),
                },
                None => {
                    let _ = watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

/// Bearer-token check (when a token file was given), in constant time.
async fn auth(State(app): State<App>, req: Request, next: Next) -> Response {
    if let Some(token) = &app.token {
        // RFC 9110: the scheme is case-insensitive; the token is compared in constant time.
        let got = req.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes).unwrap_or_default();
        let given = match got.split_at_checked(7) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case(b"bearer ") => rest.trim_ascii(),
            _ => &[][..],
        };
        let want = token.as_bytes();
        let same = given.len() == want.len() && given.iter().zip(want).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
        if !same {
            let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token (Authorization: Bearer TOKEN)");
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    next.run(req).await
}

/// The request body, read within the body deadline and the size limit (408 and 413 as JSON).
async fn read_body(app: &App, body: Body) -> Result<Bytes, Response> {
    match tokio::time::timeout(app.body_timeout, axum::body::to_bytes(body, app.max_body)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(_)) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than this service's --max-body ({} bytes), or was cut off", app.max_body),
        )),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {:.0} s (--body-timeout)", app.body_timeout.as_secs_f64()),
        )),
    }
}

async fn submit(State(app): State<App>, body: Body) -> Response {
    let body = match read_body(&app, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e} (expected {{\"source\": ..., \"options\": {{...}}}})"),
            )
        }
    };
    let Some(obj) = v.as_object() else {
        return error(StatusCode::BAD_REQUEST, "expected a JSON object {\"source\": ..., \"options\": {...}}");
    };
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "source" | "kind" | "options")) {
        return error(StatusCode::BAD_REQUEST, format!("unknown field '{k}' (expected source, kind and options)"));
    }
    let Some(source) = obj.get("source").and_then(|s| s.as_str()) else {
        return error(StatusCode::BAD_REQUEST, "source: expected a string (a path under the media root or a URL)");
    };
    let kind = match obj.get("kind") {
        None => JobKind::Detect,
        Some(k) => match k.as_str().map(str::parse::<JobKind>) {
            Some(Ok(k)) => k,
            Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e),
            None => return error(StatusCode::BAD_REQUEST, "kind: expected a string, detect or score"),
        },
    };
    let options = obj.get("options").cloned().unwrap_or(serde_json::Value::Null);
    match app.svc.submit(kind, source, &options) {
        Ok(job) => {
            let mut r = (StatusCode::CREATED, Json(job.status())).into_response();
            if let Ok(loc) = HeaderValue::from_str(&format!("/v1/jobs/{}", job.id)) {
                r.headers_mut().insert(header::LOCATION, loc);
            }
            r
        }
        Err(e @ SubmitError::Invalid(_)) => error(StatusCode::BAD_REQUEST, e),
        Err(e @ SubmitError::Busy { .. }) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, e);
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Err(e @ SubmitError::Stopping) => error(StatusCode::SERVICE_UNAVAILABLE, e),
        Err(e @ SubmitError::Internal(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn bad_id(id: &str) -> Response {
    error(StatusCode::BAD_REQUEST, format!("job id: expected a number, got '{id}'"))
}

async fn list(State(app): State<App>) -> Response {
    Json(json!({"jobs": app.svc.jobs()})).into_response()
}

async fn status(State(app): State<App>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else { return bad_id(&id) };
    match app.svc.job(id) {
        Some(j) => Json(j.status()).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no job {id}")),
    }
}

async fn cancel(State(app): State<App>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else { return bad_id(&id) };
    match app.svc.cancel(id) {
        Some(s) => Json(s).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no job {id}")),
    }
}

/// The job's results from the start, streamed (chunked) while it runs; the response ends when
/// the job does.
async fn results(State(app): State<App>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else { return bad_id(&id) };
    let Some(job) = app.svc.job(id) else { return error(StatusCode::NOT_FOUND, format!("no job {id}")) };
    let kind = match job.status().format {
        fovea::service::Format::Jsonl => "application/x-ndjson",
        fovea::service::Format::Scorevision | fovea::service::Format::Score => "application/json",
    };
    // State: the job, the offset read to, and whether the stream has ended (after an error).
    let stream = futures_util::stream::unfold((job, 0usize, false), |(job, off, over)| async move {
        if over {
            return None;
        }
        loop {
            let (bytes, ended) = match job.read(off) {
                Ok(r) => r,
                Err(e) => return Some((Err(e), (job, off, true))),
            };
            if !bytes.is_empty() {
                let n = bytes.len();
                return Some((Ok::<_, std::io::Error>(Bytes::from(bytes)), (job, off + n, false)));
            }
            if ended {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    ([(header::CONTENT_TYPE, kind)], Body::from_stream(stream)).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.svc.metrics()).into_response()
}

/// Liveness only: nothing of the model, versions or configuration (no token needed here).
async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn readyz(State(app): State<App>) -> Response {
    if app.svc.ready() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        error(StatusCode::SERVICE_UNAVAILABLE, "not ready: stopping, or the job queue is full")
    }
}
