//! The AWS SDK's set-up, once per cold start: its configuration (Lambda's own credentials and
//! region, or DynamoDB Local's), every call's time limits, and an HTTPS client that trusts
//! Amazon Trust Services' roots, compiled in.

/// The AWS SDK configuration, loaded once per cold start. With `AWS_ENDPOINT_URL_DYNAMODB`
/// (DynamoDB Local) a region and dummy credentials are set when none are given, so the SDK
/// never wanders off to SSO or the instance metadata address.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_http_client())
        .timeout_config(aws_timeouts());
    // Lambda hands a function its region and its role's credentials in the environment: the
    // SDK's provider chains (profiles, SSO, web identity, container and instance metadata) would
    // only be set up at cold start to find them there.
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() && std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader = loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
        if let Ok(region) = std::env::var("AWS_REGION") {
            loader = loader.region(aws_config::Region::new(region));
        }
    }
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "local",
            ));
        }
    }
    loader.load().await
}

/// Every AWS call's limits. DynamoDB answers in milliseconds; a store that accepts a connection
/// and never answers must cost a request seconds, not the function's whole timeout: 1 s to
/// connect, 2 s per attempt, 4 s per operation with its retries. A capture's three store calls
/// and its SBPS call (`SBPS_TIMEOUT_MS`, 15 s) then fit the operation functions' 30 s.
pub fn aws_timeouts() -> aws_config::timeout::TimeoutConfig {
    use std::time::Duration;
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(4))
        .build()
}

/// The AWS SDK's HTTPS client, trusting the roots every AWS endpoint chains to (Amazon Trust
/// Services: Amazon Root CA 1 to 4 and its Starfield Services G2 cross-sign), compiled in. The
/// SDK's default reads the whole system certificate store at every cold start (about half of
/// a function's init, BENCHMARKS.md); AWS API traffic needs none of the other roots.
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let mut trust = TrustStore::empty();
    for der in amazon_roots() {
        trust = trust.with_pem_certificate(pem(der));
    }
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Cannot happen with a non-empty store; the SDK's default trust is the fallback.
        Err(_) => {
            aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc)).build_https()
        }
    }
}

/// Amazon Trust Services' roots among Mozilla's (webpki-root-certs), by their subject names.
pub fn amazon_roots() -> impl Iterator<Item = &'static [u8]> {
    const NAMES: [&[u8]; 2] = [b"Amazon Root CA ", b"Starfield Services Root Certificate Authority - G2"];
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| c.as_ref())
        // memmem, not a memcmp per window: ~150 roots of ~1.5 KB each were ~0.5 M comparisons
        // at every cold start (the biggest single cost of init beyond hello-world).
        .filter(|der| NAMES.iter().any(|name| memchr::memmem::find(der, name).is_some()))
}

fn pem(der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_aws_trust_store_holds_amazon_trust_services_roots() {
        let roots: Vec<&[u8]> = super::amazon_roots().collect();
        assert_eq!(roots.len(), 5, "Amazon Root CA 1-4 and Starfield Services Root CA G2");
        for n in 1..=4 {
            let name = format!("Amazon Root CA {n}");
            assert!(roots.iter().any(|d| d.windows(name.len()).any(|w| w == name.as_bytes())), "{name}");
        }
    }

    #[test]
    fn pem_frames_the_der_exactly() {
        use base64::Engine;
        for der in super::amazon_roots() {
            let pem = String::from_utf8(super::pem(der)).unwrap_or_default();
            let lines: Vec<&str> = pem.lines().collect();
            assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
            assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
            assert!(lines.iter().all(|l| l.len() <= 64));
            let body: String = lines[1..lines.len() - 1].concat();
            assert_eq!(base64::engine::general_purpose::STANDARD.decode(body).ok().as_deref(), Some(der));
        }
    }
}
