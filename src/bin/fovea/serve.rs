//! `fovea serve`: the detection service's HTTP/JSON face (axum on tokio) over the library's
//! synchronous service core (`fovea::service`): one model, one pipeline per job.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Args;
use serde_json::json;

use fovea::engine::EngineConfig;
use fovea::service::{JobKind, Service, ServiceConfig, SubmitError};

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Engine configuration (TOML: model, runtime, threads, workers, score, classes, tracking);
    /// default: the default model and settings.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Model manifest (overrides the configuration's).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
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
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": msg.to_string()}))).into_response()
}

pub(crate) fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut engine = match &a.config {
        Some(p) => EngineConfig::load(p)?,
        None => EngineConfig::parse("", &std::env::current_dir()?)?,
    };
    if let Some(m) = &a.model {
        engine.model = crate::model::resolve_model(m);
    }
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
    anyhow::ensure!(a.grace.is_finite() && a.grace >= 0.0, "invalid option --grace: expected seconds >= 0, got {}", a.grace);
    let mut cfg = ServiceConfig::new(engine, a.media_root.clone());
    cfg.max_running = a.max_running.unwrap_or(cfg.max_running);
    cfg.max_queued = a.max_queued.unwrap_or(cfg.max_queued);
    cfg.job_batch = a.job_batch;
    cfg.batch_wait = Duration::from_millis(a.batch_wait_ms);
    cfg.results_dir = a.results_dir.clone();
    let (max_running, max_queued) = (cfg.max_running, cfg.max_queued);
    let svc = Service::start(cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let grace = Duration::from_secs_f64(a.grace);
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen).await.with_context(|| format!("--listen {}", a.listen))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "fovea serve: listening on http://{addr} ({}; media root {}; {max_running} jobs at once, {max_queued} queued; auth {})",
            svc.describe(),
            a.media_root.display(),
            if token.is_some() { "bearer token" } else { "none" }
        );
        let app = App { svc: svc.clone(), token };
        let router = Router::new()
            .route("/v1/jobs", get(list).post(submit))
            .route("/v1/jobs/{id}", get(status).delete(cancel))
            .route("/v1/jobs/{id}/results", get(results))
            .route("/metrics", get(metrics))
            .layer(middleware::from_fn_with_state(app.clone(), auth))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint (see the README: /v1/jobs, /healthz, /readyz, /metrics)") })
            .layer(DefaultBodyLimit::max(a.max_body))
            .with_state(app);
        let stopping = svc.clone();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                stop_signal().await;
                eprintln!("fovea serve: stopping: no new jobs; running jobs get {:.0} s to finish", grace.as_secs_f64());
                let _ = tokio::task::spawn_blocking(move || stopping.shutdown(grace)).await;
            })
            .await?;
        eprintln!("fovea serve: stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
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
        let want = format!("Bearer {token}");
        let got = req.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes).unwrap_or_default();
        let same = got.len() == want.len() && got.iter().zip(want.as_bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
        if !same {
            let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token (Authorization: Bearer TOKEN)");
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    next.run(req).await
}

async fn submit(State(app): State<App>, body: Bytes) -> Response {
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

async fn healthz(State(app): State<App>) -> Response {
    Json(json!({"status": "ok", "model": app.svc.describe()})).into_response()
}

async fn readyz(State(app): State<App>) -> Response {
    if app.svc.ready() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        error(StatusCode::SERVICE_UNAVAILABLE, "not ready: stopping, or the job queue is full")
    }
}
