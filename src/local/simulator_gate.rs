//! Whether `local` serves the SBPS simulator and its controls, and on which clock. People copy
//! the demo and run `local` beside real accounts: the simulator's controls (its clock, its
//! faults, its call log) must not be reachable there. So it is mounted with the demo account
//! (sharing the gateway's clock, which is what the demo's and the tests' clock control is for),
//! or when `SBPS_SIMULATOR=on` says so in so many words (then on a clock of its own, which never
//! moves a real gateway's), and in either case only when the gateway's public base URL is a
//! loopback one: anything else refuses to start, saying why.

use crate::accounts::{Account, DEMO_ACCOUNT_ID};
use crate::config::{AccountSource, Settings, SimulatorSetting};

/// What `local` does with the SBPS simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulator {
    /// Not mounted: `/sandbox/*` and `/demo` are not served.
    Off,
    /// Mounted on the gateway's own clock (the demo account).
    SharedClock,
    /// Mounted on a clock of its own (real accounts, asked for explicitly).
    OwnClock,
}

/// The decision for `settings` serving `accounts`, or why `local` must not start.
pub fn simulator<'a>(
    settings: &Settings,
    mut accounts: impl Iterator<Item = &'a Account>,
) -> Result<Simulator, String> {
    let demo_only = settings.accounts == AccountSource::Demo
        || accounts.all(|a| {
            a.processing_account_id == DEMO_ACCOUNT_ID && a.sbps.hash_key.expose() == crate::accounts::DEMO_HASH_KEY
        });
    let wanted = match settings.sbps_simulator {
        SimulatorSetting::Auto => demo_only,
        SimulatorSetting::On => true,
        SimulatorSetting::Off => false,
    };
    if !wanted {
        return Ok(Simulator::Off);
    }
    if !settings.is_local() {
        return Err(format!(
            "the SBPS simulator and its controls would be served for PUBLIC_BASE_URL {}, which is not a loopback \
             address: run with SBPS_SIMULATOR=off, or with a loopback PUBLIC_BASE_URL",
            settings.public_base_url
        ));
    }
    Ok(if demo_only { Simulator::SharedClock } else { Simulator::OwnClock })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::demo_account;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn real() -> Account {
        let mut a = demo_account("http://127.0.0.1:3000");
        a.processing_account_id = "2HdRealMerchant000000000000".into();
        a
    }

    #[test]
    fn the_demo_on_loopback_shares_the_clock_and_real_accounts_get_none_unless_asked() {
        let demo = [demo_account("http://127.0.0.1:3000")];
        assert_eq!(simulator(&settings(&[]), demo.iter()), Ok(Simulator::SharedClock));
        assert_eq!(simulator(&settings(&[("ACCOUNTS_JSON", "[]")]), [real()].iter()), Ok(Simulator::Off));
        let asked = settings(&[("ACCOUNTS_JSON", "[]"), ("SBPS_SIMULATOR", "on")]);
        assert_eq!(simulator(&asked, [real()].iter()), Ok(Simulator::OwnClock));
        assert_eq!(simulator(&settings(&[("SBPS_SIMULATOR", "off")]), demo.iter()), Ok(Simulator::Off));
    }

    #[test]
    fn a_public_base_url_never_serves_the_simulator() {
        let public = [("ACCOUNTS_JSON", "[]"), ("PUBLIC_BASE_URL", "https://gateway.example")];
        assert_eq!(simulator(&settings(&public), [real()].iter()), Ok(Simulator::Off));
        let asked = [public[0], public[1], ("SBPS_SIMULATOR", "on")];
        let refused = simulator(&settings(&asked), [real()].iter()).err().unwrap_or_default();
        assert!(refused.contains("SBPS_SIMULATOR=off") && refused.contains("https://gateway.example"), "{refused}");
        let demo = [demo_account("https://gateway.example")];
        assert!(simulator(&settings(&[("PUBLIC_BASE_URL", "https://gateway.example")]), demo.iter()).is_err());
    }
}
