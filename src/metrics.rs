//! CloudWatch embedded metric format: one JSON line per measurement on stdout, which Lambda
//! ships to CloudWatch Logs where it becomes a metric. No client, no network call.

use serde_json::json;

pub const NAMESPACE: &str = "KantanGateway";

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Off in tests that do not want stdout noise.
    pub silent: bool,
}

impl Metrics {
    fn emit(&self, name: &str, value: f64, unit: &str, dimensions: &[(&str, &str)]) {
        if self.silent {
            return;
        }
        let mut line = json!({
            "_aws": {
                "Timestamp": chrono::Utc::now().timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }],
            },
            name: value,
        });
        if let Some(obj) = line.as_object_mut() {
            for (k, v) in dimensions {
                obj.insert((*k).to_owned(), json!(v));
            }
        }
        println!("{line}");
    }

    pub fn payment_created(&self, _amount: u32) {
        self.emit("PaymentsCreated", 1.0, "Count", &[("Method", "au_kantan_kessai")]);
    }

    pub fn operation(&self, kind: &str, outcome: &str) {
        self.emit("Operations", 1.0, "Count", &[("Type", kind), ("Outcome", outcome)]);
    }

    pub fn sbps_call(&self, function_id: &str, millis: f64, outcome: &str) {
        self.emit("SbpsLatency", millis, "Milliseconds", &[("FunctionId", function_id)]);
        if outcome != "ok" {
            self.emit("SbpsErrors", 1.0, "Count", &[("FunctionId", function_id), ("Kind", outcome)]);
        }
    }
}
