//! The local server: every route on one port, running the very handler the Lambda functions
//! run, on the embedded store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_http::Body;
use tokio::net::TcpListener;

use crate::http::request::MAX_BODY_BYTES;
use crate::http::{ApiError, App, handle};
use crate::local::sandbox::{ResetConnection, Sandbox};
use crate::service::Provider;
use crate::store::Persistence;

/// Converts a hyper request to the `lambda_http` request the handlers take.
async fn to_lambda(req: hyper::Request<Incoming>) -> Result<lambda_http::Request, ApiError> {
    let (parts, body) = req.into_parts();
    // Read a little past the limit so the handler, not the transport, answers 413.
    let bytes = Limited::new(body, MAX_BODY_BYTES + 1)
        .collect()
        .await
        .map_err(|_| ApiError::PayloadTooLarge(MAX_BODY_BYTES))?
        .to_bytes();
    let body = if bytes.is_empty() { Body::Empty } else { Body::Binary(bytes.to_vec()) };
    Ok(lambda_http::Request::from_parts(parts, body))
}

fn from_lambda(resp: lambda_http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// The connection was dropped on purpose (a sandbox fault).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a sandbox fault")
    }
}

impl std::error::Error for Dropped {}

/// Serves `app` (and the SBPS sandbox under `/sandbox/sbps/`, if given) on `listener` until
/// the process ends.
pub async fn serve<S: Persistence, P: Provider>(
    app: Arc<App<S, P>>,
    sandbox: Option<Arc<Sandbox>>,
    listener: TcpListener,
) -> std::io::Result<()> {
    serve_with(listener, move |req| {
        let app = Arc::clone(&app);
        let sandbox = sandbox.clone();
        async move {
            let path = req.uri().path();
            let to_sandbox = path.starts_with("/sandbox/");
            let to_document = path == "/openapi.yaml";
            let to_demo = crate::local::demo::is_demo_path(path);
            match sandbox {
                _ if to_document => openapi_document(&req),
                Some(_) if to_demo => crate::local::demo::handle(&app, req).await,
                Some(sandbox) if to_sandbox => sandbox.handle(req).await,
                _ => handle(&app, req, None).await,
            }
        }
    })
    .await
}

/// Serves the SBPS sandbox alone on `listener` (its own process, `sandbox`: it outlives a
/// gateway that is killed and restarted, as SBPS does).
pub async fn serve_sandbox(sandbox: Arc<Sandbox>, listener: TcpListener) -> std::io::Result<()> {
    serve_with(listener, move |req| {
        let sandbox = Arc::clone(&sandbox);
        async move { sandbox.handle(req).await }
    })
    .await
}

/// A client has this long to send a request's headers (the first request of a connection, or
/// the next one on a kept-alive connection) before the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many connections are held at once; past it a new connection is closed at
/// once, so that clients that never finish their headers cannot hold them all.
pub const MAX_CONNECTIONS: usize = 256;

/// Accepts HTTP/1.1 connections on `listener` and answers each request with `answer`.
async fn serve_with<F, Fut>(listener: TcpListener, answer: F) -> std::io::Result<()>
where
    F: Fn(lambda_http::Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = lambda_http::Response<Body>> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = listener.accept().await?;
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(max = MAX_CONNECTIONS, "connection closed: the server holds as many as it may");
            drop(stream);
            continue;
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let answer = answer.clone();
                async move {
                    let response = match to_lambda(req).await {
                        Ok(req) => answer(req).await,
                        Err(e) => e.into_response(),
                    };
                    if response.extensions().get::<ResetConnection>().is_some() {
                        return Err(Dropped);
                    }
                    Ok(from_lambda(response))
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
}

/// The API's contract (OpenAPI 3.1, the repository's `openapi.yaml`), compiled in.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

fn openapi_document(req: &lambda_http::Request) -> lambda_http::Response<Body> {
    use lambda_http::http::{Method, StatusCode, header};
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::MethodNotAllowed { allow: "GET, HEAD" }.into_response();
    }
    let mut response = lambda_http::Response::new(Body::Text(OPENAPI_YAML.to_owned()));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/yaml"));
    response
}

/// Binds `127.0.0.1:<port>`.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}
