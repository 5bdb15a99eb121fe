//! The fuzz entry point of the SBPS simulator's purchase screen (`fuzz/fuzz_targets/
//! purchase_form.rs`): the others are in [`crate::fuzzing`], which builds without the simulator.

use lambda_http::http::Method;
use lambda_http::{Body, Request};

use super::sandbox::Sandbox;

/// The sandbox's purchase form (what a browser posts to the au screen), through the sandbox's
/// own handler.
pub fn purchase_form(data: &[u8]) {
    // A decision (approve, decline) makes the sandbox post a notification to the form's
    // pagecon_url: the fuzzer stays with the parser, its checks and the screen.
    if crate::sbps::form::decode_shift_jis_form(data).is_ok_and(|fields| fields.contains_key("decision")) {
        return;
    }
    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread().enable_all().build().ok();
        static SANDBOX: Option<Sandbox> =
            Sandbox::new(crate::clock::Clock::system(), Sandbox::merchants_of(crate::fuzzing::accounts())).ok();
    }
    let mut request = Request::new(Body::Binary(data.to_vec()));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = lambda_http::http::Uri::from_static("/sandbox/sbps/purchase");
    RUNTIME.with(|runtime| {
        SANDBOX.with(|sandbox| {
            if let (Some(runtime), Some(sandbox)) = (runtime, sandbox) {
                let answer = runtime.block_on(sandbox.handle(request));
                assert!(answer.status().is_success() || answer.status().is_client_error(), "{}", answer.status());
            }
        })
    });
}
