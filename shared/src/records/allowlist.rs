//! Per-credential IP allowlists: the source addresses a token may be used
//! from, as up to 20 IPv4/IPv6 CIDRs. Empty: any address.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// Why a list of CIDRs is refused (400 `invalid_cidr` / `too_many_cidrs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    #[error("`{entry}` is not an IPv4 or IPv6 CIDR (like 203.0.113.0/24 or 2001:db8::/32)")]
    NotACidr { entry: String },
    #[error("`{entry}` has host bits set: did you mean {network}?")]
    HostBitsSet { entry: String, network: IpNet },
    #[error("at most {max} CIDRs per credential", max = IpAllowlist::MAX_ENTRIES)]
    TooMany,
}

/// A credential's allowed source networks, sorted, without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    pub const MAX_ENTRIES: usize = 20;

    /// Each entry a CIDR (`10.0.0.0/8`) or a bare address (one host).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AllowlistError> {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            nets.push(parse_entry(entry.as_ref().trim())?);
        }
        nets.sort();
        nets.dedup();
        if nets.len() > Self::MAX_ENTRIES {
            return Err(AllowlistError::TooMany);
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a request from `source` may use the credential. An empty list
    /// admits any source, even an unknown one; a list never admits an
    /// unknown source (a REST `TOKEN` authorizer event carries none).
    pub fn admits(&self, source: Option<IpAddr>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(source) = source.map(canonical) else {
            return false;
        };
        self.0.iter().any(|net| net.contains(&source))
    }

    /// The entries as text, e.g. `["10.0.0.0/8", "2001:db8::/32"]`.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for IpAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_strings().join(","))
    }
}

fn parse_entry(entry: &str) -> Result<IpNet, AllowlistError> {
    let net = match entry.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => {
            entry
                .parse::<IpAddr>()
                .map(IpNet::from)
                .map_err(|_| AllowlistError::NotACidr {
                    entry: entry.to_owned(),
                })?
        }
    };
    if net.trunc() != net {
        return Err(AllowlistError::HostBitsSet {
            entry: entry.to_owned(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

/// An IPv4 address API Gateway reports as IPv6-mapped (`::ffff:a.b.c.d`)
/// is matched as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn entries_parse_as_cidrs_or_hosts_and_admit_their_addresses() {
        let list = IpAllowlist::parse(&[
            "203.0.113.0/24",
            "2001:db8::/32",
            "198.51.100.7",
            "203.0.113.0/24",
        ])
        .unwrap();
        assert_eq!(
            list.to_strings(),
            ["198.51.100.7/32", "203.0.113.0/24", "2001:db8::/32"]
        );
        assert!(list.admits(ip("203.0.113.200")));
        assert!(list.admits(ip("198.51.100.7")));
        assert!(list.admits(ip("::ffff:203.0.113.9")));
        assert!(list.admits(ip("2001:db8:1::5")));
        assert!(!list.admits(ip("198.51.100.8")));
        assert!(!list.admits(ip("2001:db9::1")));
        assert!(
            !list.admits(None),
            "an unknown source is never admitted by a list"
        );
        assert!(IpAllowlist::default().admits(None));
        assert!(IpAllowlist::default().admits(ip("192.0.2.1")));
    }

    #[test]
    fn bad_entries_and_long_lists_are_refused_with_a_reason() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0",
            "any",
            "",
            "10.0.0.0/8/8",
            "fe80::1%eth0",
        ] {
            assert!(
                matches!(
                    IpAllowlist::parse(&[bad]),
                    Err(AllowlistError::NotACidr { .. })
                ),
                "{bad:?}"
            );
        }
        let error = IpAllowlist::parse(&["10.1.2.3/8"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`10.1.2.3/8` has host bits set: did you mean 10.0.0.0/8?"
        );
        let many: Vec<String> = (0..21).map(|i| format!("10.0.{i}.0/24")).collect();
        assert_eq!(IpAllowlist::parse(&many), Err(AllowlistError::TooMany));
        assert!(IpAllowlist::parse(&many[..20]).is_ok());
    }
}
