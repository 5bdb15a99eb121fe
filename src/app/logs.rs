//! The functions' logs: JSON, one line per event, with the invocation's request and trace ids;
//! `RUST_LOG` read as a level, or a level per target.

/// JSON logs, one line per event; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = json_logs(std::io::stdout, "info").try_init();
    // A panic's text and source location never reach the logs: a request must not be able to
    // write either there. (Handlers do not panic on input; this is the last line.)
    std::panic::set_hook(Box::new(|_| tracing::error!("a task panicked; details withheld")));
}

/// One JSON line per event, its fields at the top level, and the current span's fields under
/// `span`. Inside a Lambda invocation that span is the runtime's own ("Lambda runtime
/// invoke"), so every line a request writes carries `span.requestId` (what the API's access
/// log calls `lambdaRequestId`) and `span.xrayTraceId` (the X-Ray trace). `RUST_LOG` filters,
/// else `default_level`.
pub fn json_logs<W>(writer: W, default_level: &str) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .with_writer(writer)
        .finish()
        .with(log_filter(std::env::var("RUST_LOG").ok().as_deref(), default_level))
}

/// `RUST_LOG`'s directives (`info`, `kantan=debug,warn`: a level per target, as `env_logger`
/// reads them), else `default_level`. Span and field filters are not taken: the regex engine
/// they need would be the largest part of the logger in every function's binary.
fn log_filter(rust_log: Option<&str>, default_level: &str) -> tracing_subscriber::filter::Targets {
    rust_log
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| directives.parse().ok())
        .or_else(|| default_level.parse().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_written_inside_an_invocation_carries_its_request_and_trace_ids() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = super::json_logs(move || writer.clone(), "info");
        let mut context = lambda_http::Context::default();
        context.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
        context.xray_trace_id =
            Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before any invocation");
            let span = lambda_http::lambda_runtime::layers::trace::request_span(&context);
            let _inside = span.enter();
            tracing::info!(route = "capture", status = 201u16, "request");
        });
        let text = String::from_utf8(captured.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0].get("span"), None, "no invocation, no span");
        let request = &lines[1];
        assert_eq!(request["message"], "request");
        assert_eq!(request["route"], "capture", "event fields stay at the top level");
        assert_eq!(request["span"]["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(
            request["span"]["xrayTraceId"],
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
        );
        assert_eq!(request.get("spans"), None, "one span object, not the list");
    }

    #[test]
    fn rust_log_takes_a_level_per_target_and_falls_back_to_the_default() {
        use tracing::Level;
        let filter = |rust_log: Option<&str>| super::log_filter(rust_log, "info");
        let info = filter(None);
        assert!(info.would_enable("kantan::http", &Level::INFO) && !info.would_enable("kantan::http", &Level::DEBUG));
        assert!(filter(Some("debug")).would_enable("kantan::service", &Level::DEBUG));
        let scoped = filter(Some("kantan=warn,aws_smithy_runtime=debug"));
        assert!(
            !scoped.would_enable("kantan::http", &Level::INFO) && scoped.would_enable("kantan::http", &Level::WARN)
        );
        assert!(scoped.would_enable("aws_smithy_runtime::client", &Level::DEBUG));
        assert!(!scoped.would_enable("hyper", &Level::ERROR), "a target not named is off, as with env_logger");
        for unusable in [Some(""), Some("  "), Some("kantan=loud")] {
            let f = filter(unusable);
            assert!(f.would_enable("kantan", &Level::INFO) && !f.would_enable("kantan", &Level::DEBUG), "{unusable:?}");
        }
    }
}
