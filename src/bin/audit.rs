//! `audit`: every payment of every account checked against DESIGN §4 and §8 (infra/RUNBOOK.md,
//! "Running the audit"). `--json` prints the report as JSON instead of text. Exit status 0:
//! nothing found; 1: findings; 2: the audit could not read the store or the accounts.
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut json = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json = true,
            _ => {
                eprintln!("usage: audit [--json]   (the store and accounts come from the environment, as for `local`)");
                return ExitCode::from(2);
            }
        }
    }
    match kantan::app::run_audit().await {
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
