//! A hello-world `lambda_http` function, built with the same profile as the gateway's
//! functions: the baseline that `benches/startup.py` measures them against.
use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_req: Request| async { Ok::<_, Error>(Response::new(Body::from("hello"))) })).await
}
