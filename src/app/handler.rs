//! Which function a Lambda process serves. The deployed artefacts are two binaries: `api` for the
//! seven HTTP functions and `jobs` for dispatch, deliver and sweep. The HTTP functions already
//! carried the whole router, so seven binaries were one program linked seven times per
//! architecture (fat LTO, about 45 s each; README "The two commands"); the jobs likewise. (One
//! binary for all ten came out at 8.07 MB for x86_64, over the 8 MB limit: the jobs' event types
//! and the HTTP routes together.) Each function of the template names what it serves in its
//! `Handler`, which Lambda hands to a custom runtime as the environment variable `_HANDLER`. The
//! binaries `create` ... `sweep` serve one function each, for `cargo lambda watch` and `cargo
//! lambda invoke`, which run a function by its binary's name; they are the same wiring.

use crate::Error;
use crate::http::Function;

use super::{Job, init_tracing, run_job, run_lambda};

/// One deployed function: an HTTP function's routes, or a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Http(Function),
    Job(Job),
}

impl Handler {
    /// Every deployed function, by the name the template gives it as `Handler`.
    pub const ALL: [(&'static str, Handler); 10] = [
        ("create", Handler::Http(Function::Create)),
        ("track", Handler::Http(Function::Track)),
        ("capture", Handler::Http(Function::Capture)),
        ("cancel", Handler::Http(Function::Cancel)),
        ("refund", Handler::Http(Function::Refund)),
        ("notify", Handler::Http(Function::Notify)),
        ("webhooks", Handler::Http(Function::Webhooks)),
        ("dispatch", Handler::Job(Job::Dispatch)),
        ("deliver", Handler::Job(Job::Deliver)),
        ("sweep", Handler::Job(Job::Sweep)),
    ];

    pub fn named(name: &str) -> Option<Handler> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
    }
}

/// A deployed binary: the functions it can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// The HTTP functions (API Gateway's routes, and SBPS's result notification).
    Api,
    /// The functions that are not HTTP: the table's stream, the delivery queue, the schedule.
    Jobs,
}

impl Binary {
    /// Its name: the template's `Metadata.BuildProperties.Binary`, `src/bin/<name>.rs`.
    pub fn name(self) -> &'static str {
        match self {
            Binary::Api => "api",
            Binary::Jobs => "jobs",
        }
    }

    /// The binary that serves `handler`.
    pub fn of(handler: Handler) -> Binary {
        match handler {
            Handler::Http(_) => Binary::Api,
            Handler::Job(_) => Binary::Jobs,
        }
    }

    pub fn serves(self, handler: Handler) -> bool {
        Binary::of(handler) == self
    }

    /// The names it answers to, in the template's order.
    pub fn handlers(self) -> Vec<&'static str> {
        Handler::ALL.iter().filter(|(_, h)| self.serves(*h)).map(|(n, _)| *n).collect()
    }

    /// The function `_HANDLER` names, if this binary serves it; else it refuses to start, saying
    /// which names it knows (a template whose `Handler` is wrong fails at its first cold start,
    /// in the function's log, not at its first request).
    fn handler_from_env(self) -> Result<Handler, Error> {
        let name = std::env::var("_HANDLER").unwrap_or_default();
        match Handler::named(&name).filter(|h| self.serves(*h)) {
            Some(handler) => Ok(handler),
            None => {
                init_tracing();
                let why = format!(
                    "_HANDLER is {name:?}, not one of {} (the binary `{}`): set the function's Handler",
                    self.handlers().join(", "),
                    self.name()
                );
                tracing::error!(reason = %why, "refusing to start");
                Err(why.into())
            }
        }
    }
}

// One entry per binary, each reaching only its own side: a binary that could reach both would
// carry both (the router and the jobs' event types), which is what made one binary for all ten
// too large.

/// `api`'s entry: serves the HTTP function `_HANDLER` names.
pub async fn run_api() -> Result<(), Error> {
    match Binary::Api.handler_from_env()? {
        Handler::Http(function) => run_lambda(alone(function)).await,
        Handler::Job(job) => Err(format!("the api binary serves no job ({job:?})").into()),
    }
}

/// `jobs`' entry: serves the job `_HANDLER` names.
pub async fn run_jobs() -> Result<(), Error> {
    match Binary::Jobs.handler_from_env()? {
        Handler::Job(job) => run_job(job).await,
        Handler::Http(function) => Err(format!("the jobs binary serves no HTTP function ({function:?})").into()),
    }
}

/// The routes of one function, as `run_lambda` takes them.
fn alone(function: Function) -> &'static [Function] {
    match function {
        Function::Create => &[Function::Create],
        Function::Track => &[Function::Track],
        Function::Capture => &[Function::Capture],
        Function::Cancel => &[Function::Cancel],
        Function::Refund => &[Function::Refund],
        Function::Notify => &[Function::Notify],
        Function::Webhooks => &[Function::Webhooks],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_one_function_and_back() {
        for (name, handler) in Handler::ALL {
            assert_eq!(Handler::named(name), Some(handler));
            if let Handler::Http(f) = handler {
                assert_eq!(alone(f), &[f]);
                assert_eq!(format!("{f:?}").to_lowercase(), name);
            }
        }
        assert_eq!(Binary::Api.handlers(), ["create", "track", "capture", "cancel", "refund", "notify", "webhooks"]);
        assert_eq!(Binary::Jobs.handlers(), ["dispatch", "deliver", "sweep"]);
        assert_eq!(Handler::named("bootstrap"), None);
        assert_eq!(Handler::named(""), None);
        assert_eq!(Handler::named("Create"), None, "names are the template's, exactly");
    }

    #[test]
    fn each_single_function_binary_serves_the_function_of_its_name() {
        for (name, handler) in Handler::ALL {
            let path = format!("{}/src/bin/{name}.rs", env!("CARGO_MANIFEST_DIR"));
            let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let serves = match handler {
                Handler::Http(f) => format!("kantan::http::Function::{f:?}]"),
                Handler::Job(j) => format!("kantan::app::Job::{j:?})"),
            };
            assert!(source.contains(&serves), "{path} serves {serves}");
        }
    }
}
