//! TLS trust compiled in, so no certificate store is read at start.

/// Mozilla's root program (webpki-root-certs), for the servers the gateway calls that are not
/// AWS: SBPS, and merchants' webhook endpoints.
pub fn mozilla_roots() -> impl Iterator<Item = reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
}
