//! Address ranges (CIDR blocks) for firewall rules.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CloudError;

/// An IPv4 or IPv6 range in CIDR form, normalised: host bits cleared, so `192.0.2.7/24` is
/// `192.0.2.0/24`, and a bare address is a single-host range (`/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// The IPv4 range that matches every address.
pub const ANYWHERE_V4: Cidr = Cidr { addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED), prefix: 0 };

impl Cidr {
    /// The range's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether this is an IPv6 range.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
            _ => return None,
        };
        Some(Self { addr, prefix })
    }
}

impl FromStr for Cidr {
    type Err = CloudError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || CloudError::InvalidRequest(format!("`{text}` is not an IP address or CIDR range"));
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let prefix: u8 = prefix.parse().map_err(|_| bad())?;
                (addr, prefix)
            }
            None => {
                let addr: IpAddr = text.parse().map_err(|_| bad())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        Self::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for Cidr {
    type Error = CloudError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Cidr> for String {
    fn from(cidr: Cidr) -> Self {
        cidr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        text.parse::<Cidr>().unwrap().to_string()
    }

    #[test]
    fn normalises_ranges() {
        assert_eq!(norm("203.0.113.9/32"), "203.0.113.9/32");
        assert_eq!(norm("203.0.113.9"), "203.0.113.9/32");
        assert_eq!(norm("203.0.113.9/24"), "203.0.113.0/24");
        assert_eq!(norm("0.0.0.0/0"), "0.0.0.0/0");
        assert_eq!(norm("10.1.2.3/0"), "0.0.0.0/0");
        assert_eq!(norm("2001:db8::1"), "2001:db8::1/128");
        assert_eq!(norm("2001:db8::1/64"), "2001:db8::/64");
        assert_eq!(ANYWHERE_V4.to_string(), "0.0.0.0/0");
        assert!("2001:db8::/64".parse::<Cidr>().unwrap().is_ipv6());
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["", "1.2.3.4/33", "1.2.3/24", "::/129", "host.example", "1.2.3.4/-1", "1.2.3.4/ 8"] {
            assert!(matches!(bad.parse::<Cidr>(), Err(CloudError::InvalidRequest(_))), "{bad}");
        }
    }
}
