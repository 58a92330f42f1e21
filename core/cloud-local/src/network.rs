//! The private network all instances of one provider share.
//!
//! Each guest has two NICs:
//!
//! * QEMU user-mode networking (NAT): the guest reaches the outside (and the host's loopback
//!   at 10.0.2.2) and takes 10.0.2.15 by DHCP; the host reaches the guest's SSH through a port
//!   forwarded from 127.0.0.1.
//! * The private network: a QEMU `socket` netdev on a UDP multicast group, sent and received on
//!   127.0.0.1 only, so every instance of the provider is on one Ethernet segment and nothing
//!   leaves the host. The group and port are chosen at random once per provider (base
//!   directory) and kept in `network.json`, so two providers on one host (parallel tests) do not
//!   share a segment. Addresses are static (`10.77.0.10` and up by default), handed to the guest
//!   by its first-boot step, with MACs derived from them.
//!
//! The segment is only as private as the host: any local process that joins the group sees the
//! frames. It is a lab network, not an isolation boundary.

use std::net::Ipv4Addr;

use rand::Rng;
use serde::{Deserialize, Serialize};
use wintermute_cloud::CloudError;

use crate::store::{read_json, write_json, Store};

/// The private network's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PrivateNetwork {
    /// The multicast group (administratively scoped, 239.255.0.0/16).
    pub group: Ipv4Addr,
    /// The UDP port.
    pub port: u16,
    /// The guests' subnet (a /24).
    pub subnet: Ipv4Addr,
}

/// The first host number given out in the subnet.
const FIRST_HOST: u8 = 10;
/// The last one.
const LAST_HOST: u8 = 250;

impl PrivateNetwork {
    /// The provider's network, chosen and recorded the first time.
    pub(crate) fn load_or_create(store: &Store) -> Result<Self, CloudError> {
        let path = store.network_file();
        if let Some(net) = read_json(&path)? {
            return Ok(net);
        }
        let mut rng = rand::thread_rng();
        let net = Self {
            group: Ipv4Addr::new(239, 255, rng.gen_range(1..=254), rng.gen_range(1..=254)),
            port: rng.gen_range(20_000..=60_999),
            subnet: Ipv4Addr::new(10, 77, 0, 0),
        };
        write_json(&path, &net)?;
        Ok(net)
    }

    /// QEMU's `-netdev` value for a NIC on this network.
    pub(crate) fn netdev(&self, id: &str) -> String {
        format!("socket,id={id},mcast={}:{},localaddr=127.0.0.1", self.group, self.port)
    }

    /// The first free address, given the ones in use; `None` when the subnet is full.
    pub(crate) fn next_address(&self, used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let [a, b, c, _] = self.subnet.octets();
        (FIRST_HOST..=LAST_HOST).map(|h| Ipv4Addr::new(a, b, c, h)).find(|ip| !used.contains(ip))
    }

    /// The address as the guest configures it (CIDR form).
    pub(crate) fn cidr(&self, ip: Ipv4Addr) -> String {
        format!("{ip}/24")
    }
}

/// The MAC of the private NIC with address `ip` (QEMU's 52:54:00 prefix).
pub(crate) fn private_mac(ip: Ipv4Addr) -> String {
    let [_, b, c, d] = ip.octets();
    format!("52:54:00:{b:02x}:{c:02x}:{d:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_macs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let net = PrivateNetwork::load_or_create(&store).unwrap();
        assert_eq!(PrivateNetwork::load_or_create(&store).unwrap(), net, "chosen once");
        assert_eq!(net.group.octets()[..2], [239, 255]);
        let first = net.next_address(&[]).unwrap();
        assert_eq!(first, Ipv4Addr::new(10, 77, 0, 10));
        assert_eq!(net.next_address(&[first]).unwrap(), Ipv4Addr::new(10, 77, 0, 11));
        let all: Vec<_> = (FIRST_HOST..=LAST_HOST).map(|h| Ipv4Addr::new(10, 77, 0, h)).collect();
        assert_eq!(net.next_address(&all), None);
        assert_eq!(private_mac(first), "52:54:00:4d:00:0a");
        assert_eq!(net.cidr(first), "10.77.0.10/24");
        assert!(net.netdev("priv").starts_with("socket,id=priv,mcast=239.255."));
    }
}
