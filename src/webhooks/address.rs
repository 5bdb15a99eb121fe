//! Where a webhook may be sent (DESIGN §8): `https` to a DNS name, resolved at every attempt
//! by a resolver that refuses loopback, private, link-local (the metadata address), CGNAT,
//! multicast and reserved addresses, IPv4-mapped and -embedded forms included; the client
//! connects to the addresses it vetted. Plain `http` is allowed to loopback in local mode only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// The longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Whether the gateway runs locally (plain `http` to loopback allowed) or for real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_loopback: bool,
    pub allow_public: bool,
}

impl AddressPolicy {
    pub const PRODUCTION: AddressPolicy = AddressPolicy { allow_loopback: false, allow_public: true };
    pub const LOCAL: AddressPolicy = AddressPolicy { allow_loopback: true, allow_public: true };
    /// Nothing leaves the machine: loopback endpoints only, and no name but `localhost` is
    /// looked up.
    pub const LOOPBACK_ONLY: AddressPolicy = AddressPolicy { allow_loopback: true, allow_public: false };

    /// The policy of a gateway that runs on loopback itself (`local`) or not, and was told to
    /// keep webhooks on the machine (`WEBHOOK_LOOPBACK_ONLY`) or not: public addresses; in local
    /// mode loopback too; told so, loopback only.
    pub fn for_gateway(runs_on_loopback: bool, loopback_only: bool) -> AddressPolicy {
        match (runs_on_loopback, loopback_only) {
            (true, true) => AddressPolicy::LOOPBACK_ONLY,
            (true, false) => AddressPolicy::LOCAL,
            (false, _) => AddressPolicy::PRODUCTION,
        }
    }

    /// Whether an address a name resolved to may be connected to.
    pub fn allows(&self, ip: IpAddr) -> bool {
        (self.allow_public && is_public(ip)) || (self.allow_loopback && ip.is_loopback())
    }

    /// Whether `host` may be looked up at all.
    pub fn may_resolve(&self, host: &str) -> bool {
        self.allow_public || host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost")
    }
}

/// Why an endpoint URL is refused; the message names the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("must be an absolute URL of at most 2048 characters")]
    Malformed,
    #[error("must use https")]
    Scheme,
    #[error("must not carry user information")]
    UserInfo,
    #[error("must name a host by DNS name, not by IP address")]
    IpLiteral,
    #[error("must not name a local or private host")]
    PrivateHost,
}

/// Checks an endpoint URL and answers its canonical form.
pub fn validate_url(text: &str, policy: AddressPolicy) -> Result<Url, UrlError> {
    if text.len() > MAX_URL_LEN || text.trim() != text {
        return Err(UrlError::Malformed);
    }
    let url = Url::parse(text).map_err(|_| UrlError::Malformed)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::UserInfo);
    }
    let loopback = match url.host() {
        None => return Err(UrlError::Malformed),
        Some(Host::Domain(name)) => is_loopback_name(name),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
    };
    let local = policy.allow_loopback && loopback;
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => return Err(UrlError::Scheme),
    }
    match url.host() {
        Some(Host::Domain(name)) if is_loopback_name(name) && !local => Err(UrlError::PrivateHost),
        Some(Host::Domain(name)) if name.ends_with(".internal") || !name.contains('.') && !local => {
            Err(UrlError::PrivateHost)
        }
        Some(Host::Domain(_)) => Ok(url),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) if local => Ok(url),
        _ => Err(UrlError::IpLiteral),
    }
}

fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    name == "localhost" || name.ends_with(".localhost")
}

/// A globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo
        || s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
}

/// The IPv4 address inside an IPv4-mapped, -compatible, NAT64 or 6to4 IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15])); // IPv4-compatible
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15])); // NAT64
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])); // 6to4
    }
    None
}

/// Answers `addrs` if every one is allowed (a name with any refused address is refused whole,
/// so a rebinding answer cannot mix one in).
pub fn vet(addrs: Vec<SocketAddr>, policy: AddressPolicy) -> Result<Vec<SocketAddr>, RefusedAddress> {
    if addrs.is_empty() || addrs.iter().any(|a| !policy.allows(a.ip())) {
        return Err(RefusedAddress);
    }
    Ok(addrs)
}

/// A name resolved to an address webhooks never go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the endpoint's host resolves to a refused address")]
pub struct RefusedAddress;

/// The resolver the webhook client connects through: the system's, vetted.
#[derive(Debug, Clone, Copy)]
pub struct VettingResolver {
    pub policy: AddressPolicy,
}

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if !policy.may_resolve(&host) {
                return Err(Box::new(RefusedAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let vetted = vet(addrs, policy)?;
            Ok(Box::new(vetted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl VettingResolver {
    pub fn shared(policy: AddressPolicy) -> Arc<Self> {
        Arc::new(VettingResolver { policy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROD: AddressPolicy = AddressPolicy::PRODUCTION;
    const LOCAL: AddressPolicy = AddressPolicy::LOCAL;

    #[test]
    fn loopback_only_never_looks_a_public_name_up_nor_connects_to_a_public_address() {
        let only = AddressPolicy::LOOPBACK_ONLY;
        assert!(only.may_resolve("localhost") && only.may_resolve("shop.localhost"));
        assert!(!only.may_resolve("merchant.site") && !only.may_resolve("localhost.example.com"));
        assert!(only.allows("127.0.0.1".parse().expect("ip")) && only.allows("::1".parse().expect("ip")));
        assert!(!only.allows("93.184.216.34".parse().expect("ip")));
        assert!(PROD.may_resolve("merchant.site") && LOCAL.may_resolve("merchant.site"));
    }

    #[test]
    fn the_ssrf_table_of_urls() {
        let refused = [
            ("https://127.0.0.1/hook", UrlError::IpLiteral),
            ("https://10.0.0.1/hook", UrlError::IpLiteral),
            ("https://169.254.169.254/latest/meta-data", UrlError::IpLiteral),
            ("https://2130706433/hook", UrlError::IpLiteral), // decimal 127.0.0.1
            ("https://0x7f000001/hook", UrlError::IpLiteral), // hex
            ("https://0177.0.0.1/hook", UrlError::IpLiteral), // octal
            ("https://[::1]/hook", UrlError::IpLiteral),
            ("https://[::ffff:127.0.0.1]/hook", UrlError::IpLiteral),
            ("https://[2001:4860::8888]/hook", UrlError::IpLiteral),
            ("https://user:pw@example.com/hook", UrlError::UserInfo),
            ("https://user@example.com/hook", UrlError::UserInfo),
            ("http://example.com/hook", UrlError::Scheme),
            ("ftp://example.com/hook", UrlError::Scheme),
            ("http://127.0.0.1:4000/hook", UrlError::Scheme),
            ("https://localhost/hook", UrlError::PrivateHost),
            ("https://api.localhost/hook", UrlError::PrivateHost),
            ("https://metadata.google.internal/x", UrlError::PrivateHost),
            ("https://intranet/hook", UrlError::PrivateHost),
            ("not a url", UrlError::Malformed),
            (" https://example.com/", UrlError::Malformed),
        ];
        for (url, why) in refused {
            assert_eq!(validate_url(url, PROD).err(), Some(why), "{url}");
        }
        assert!(validate_url("https://merchant.example.com/hooks/au?x=1", PROD).is_ok());
        assert!(validate_url(&format!("https://example.com/{}", "a".repeat(2100)), PROD).is_err());
    }

    #[test]
    fn local_mode_allows_plain_http_to_loopback_only() {
        assert!(validate_url("http://127.0.0.1:4000/hook", LOCAL).is_ok());
        assert!(validate_url("http://localhost:4000/hook", LOCAL).is_ok());
        assert!(validate_url("http://[::1]:4000/hook", LOCAL).is_ok());
        assert_eq!(validate_url("http://example.com/hook", LOCAL).err(), Some(UrlError::Scheme));
        assert_eq!(validate_url("http://10.0.0.1/hook", LOCAL).err(), Some(UrlError::Scheme));
        assert_eq!(validate_url("https://10.0.0.1/hook", LOCAL).err(), Some(UrlError::IpLiteral));
    }

    #[test]
    fn the_ssrf_table_of_resolved_addresses() {
        let refused = [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "fec0::1",
        ];
        for ip in refused {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(!PROD.allows(ip), "{ip}");
        }
        for ip in ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "100.128.0.1"] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(PROD.allows(ip), "{ip}");
        }
        assert!(LOCAL.allows("127.0.0.1".parse().expect("ip")));
        assert!(!LOCAL.allows("10.0.0.1".parse().expect("ip")));
        let mixed = vec![SocketAddr::from(([8, 8, 8, 8], 443)), SocketAddr::from(([127, 0, 0, 1], 443))];
        assert_eq!(vet(mixed, PROD), Err(RefusedAddress), "one refused address refuses the name");
        assert_eq!(vet(Vec::new(), PROD), Err(RefusedAddress));
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_by_the_resolver() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().expect("a name");
        assert!(VettingResolver { policy: PROD }.resolve(name).await.is_err());
        let name: reqwest::dns::Name = "localhost".parse().expect("a name");
        assert!(VettingResolver { policy: LOCAL }.resolve(name).await.is_ok());
    }
}
