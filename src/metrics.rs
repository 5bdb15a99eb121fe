//! CloudWatch embedded metric format: one JSON line per measurement on stdout, which Lambda
//! ships to CloudWatch Logs where it becomes a metric. No client, no network call.

use std::sync::{Arc, Mutex};

use serde_json::json;

pub const NAMESPACE: &str = "KantanGateway";

/// Where metric lines go.
#[derive(Debug, Clone, Default)]
pub enum Sink {
    #[default]
    Stdout,
    /// Dropped (tests that do not look at metrics).
    Silent,
    /// Kept in memory (tests that do).
    Memory(Arc<Mutex<Vec<String>>>),
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub sink: Sink,
}

impl Metrics {
    pub fn silent() -> Self {
        Metrics { sink: Sink::Silent }
    }

    fn emit(&self, name: &str, value: f64, unit: &str, dimensions: &[(&str, &str)]) {
        if matches!(self.sink, Sink::Silent) {
            return;
        }
        // Each metric by all its dimensions, by `Kind` alone (alarms on configuration faults),
        // and with no dimension at all (alarms on the total).
        let keys: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
        let mut sets = vec![keys.clone(), vec![]];
        if keys.len() > 1 && keys.contains(&"Kind") {
            sets.push(vec!["Kind"]);
        }
        let mut line = json!({
            "_aws": {
                "Timestamp": chrono::Utc::now().timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": sets,
                    "Metrics": [{"Name": name, "Unit": unit}],
                }],
            },
            name: value,
        });
        if let Some(obj) = line.as_object_mut() {
            for (k, v) in dimensions {
                obj.insert((*k).to_owned(), json!(v));
            }
            // The invocation's X-Ray trace (the runtime sets it per invocation), as on the log
            // lines: a property, not a dimension.
            if let Some(trace) = std::env::var("_X_AMZN_TRACE_ID").ok().filter(|t| !t.is_empty()) {
                obj.insert("xrayTraceId".to_owned(), json!(trace));
            }
        }
        match &self.sink {
            Sink::Stdout => println!("{line}"),
            Sink::Memory(lines) => {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line.to_string());
                }
            }
            Sink::Silent => {}
        }
    }

    pub fn payment_created(&self) {
        self.emit("PaymentsCreated", 1.0, "Count", &[("Method", "au_kantan_kessai")]);
    }

    pub fn operation(&self, kind: &str, outcome: &str) {
        self.emit("Operations", 1.0, "Count", &[("Type", kind), ("Outcome", outcome)]);
    }

    pub fn notification(&self, outcome: &str) {
        self.emit("Notifications", 1.0, "Count", &[("Outcome", outcome)]);
    }

    /// One SBPS API call: its latency, and an error count unless it succeeded.
    pub fn sbps_call(&self, function_id: &str, millis: f64, outcome: &str) {
        self.emit("SbpsLatency", millis, "Milliseconds", &[("FunctionId", function_id)]);
        if outcome != "ok" {
            self.emit("SbpsErrors", 1.0, "Count", &[("FunctionId", function_id), ("Kind", outcome)]);
        }
    }

    /// One sweep: how far behind it is (`lag_minutes`), and what it did.
    pub fn sweep(&self, lag_minutes: i64, expired: u32, settled: u32, errors: u32) {
        self.emit("SweepLagMinutes", lag_minutes as f64, "Count", &[("Sweeper", "due")]);
        self.emit("SweepExpired", f64::from(expired), "Count", &[("Sweeper", "due")]);
        self.emit("SweepSettled", f64::from(settled), "Count", &[("Sweeper", "due")]);
        self.emit("SweepErrors", f64::from(errors), "Count", &[("Sweeper", "due")]);
    }

    /// An endpoint disabled by the gateway (`gone`: a 410; `failing`: 5 days of failures).
    pub fn endpoint_disabled(&self, reason: &str) {
        self.emit("WebhookEndpointsDisabled", 1.0, "Count", &[("Reason", reason)]);
    }

    /// One webhook attempt, by outcome (`succeeded`, `retrying`, `failed`, `gone`, `skipped`).
    pub fn webhook_attempt(&self, outcome: &str) {
        self.emit("WebhookDeliveries", 1.0, "Count", &[("Outcome", outcome)]);
    }
}
