//! `audit`: every payment of every account checked against DESIGN §4 and §8 (infra/RUNBOOK.md,
//! "Running the audit"). `--json` prints the report as JSON instead of text; `--sbps-calls FILE`
//! reconciles with SBPS's call log (`{"calls": [...]}`, as the sandbox's
//! `GET /sandbox/sbps/control/calls` answers). Exit status 0: nothing found; 1: findings; 2:
//! the audit could not read the store, the accounts or the call log.
use std::process::ExitCode;

use kantan::audit::SbpsCall;

const USAGE: &str =
    "usage: audit [--json] [--sbps-calls FILE]   (the store and accounts come from the environment, as for `local`)";

#[derive(serde::Deserialize)]
struct CallLog {
    calls: Vec<SbpsCall>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut json = false;
    let mut calls_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), calls_file.is_none()) {
            ("--json", _) => json = true,
            ("--sbps-calls", true) => match args.next() {
                Some(file) => calls_file = Some(file),
                None => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let calls = match calls_file.map(|f| std::fs::read(&f).map_err(|e| format!("{f}: {e}"))) {
        None => None,
        Some(Err(e)) => {
            eprintln!("audit: {e}");
            return ExitCode::from(2);
        }
        Some(Ok(bytes)) => match serde_json::from_slice::<CallLog>(&bytes) {
            Ok(log) => Some(log.calls),
            Err(e) => {
                eprintln!("audit: the SBPS call log is not {{\"calls\": [...]}}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match kantan::app::run_audit(calls.as_deref()).await {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("audit: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print!("{}", report.to_text());
            }
            if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("audit: {e}");
            ExitCode::from(2)
        }
    }
}
