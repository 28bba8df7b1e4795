//! Who the client is behind reverse proxies we trust. `X-Forwarded-For` is read only when
//! the connecting peer is a trusted proxy, and then from the right: each proxy appends the
//! address it saw, so the first address that is not a trusted proxy is the client; what
//! stands to the left of it was written by the client and is ignored.

use axum::http::HeaderMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address range in CIDR notation, `10.0.0.0/8` or `::1/128`; a bare address is one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// 127.0.0.1 and ::1: what `--trust-forwarded-for` meant for a proxy on the same host.
    pub fn loopback() -> [TrustedProxy; 2] {
        [
            "127.0.0.1".parse().expect("valid"),
            "::1".parse().expect("valid"),
        ]
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address (e.g. 10.0.0.0/8, ::1)"))?;
        let network = network.to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("prefix length {p:?} is not 0 to {max}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`192.0.2.1:4711`, `[::1]:80`).
fn entry(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client's address: the peer, unless the peer is a trusted proxy; then the rightmost
/// `X-Forwarded-For` address that is not one. Unreadable entries end the walk.
pub fn client_ip(
    trusted: &[TrustedProxy],
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    let mut client = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip().to_canonical());
    if !is_trusted(client) {
        return client;
    }
    // Several header lines count as one list, in order.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for raw in entries.iter().rev() {
        let Some(ip) = entry(raw) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    #[test]
    fn ranges_are_parsed_and_matched() {
        let net: TrustedProxy = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one: TrustedProxy = "192.0.2.7".parse().unwrap();
        assert_eq!(one.to_string(), "192.0.2.7/32");
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let v6: TrustedProxy = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "::/129", "zehn/8", "10.0.0.0/", ""] {
            assert!(bad.parse::<TrustedProxy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let t = proxies(&["127.0.0.1"]);
        let h = xff("192.0.2.1");
        assert_eq!(
            client_ip(&t, &h, peer("203.0.113.9")).to_string(),
            "203.0.113.9"
        );
        assert_eq!(
            client_ip(&[], &h, peer("127.0.0.1")).to_string(),
            "127.0.0.1"
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client() {
        let t = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        let forged = xff("192.0.2.55, 127.0.0.1, 198.51.100.66, 10.1.2.3");
        assert_eq!(
            client_ip(&t, &forged, peer("127.0.0.1")).to_string(),
            "198.51.100.66"
        );
        // Only trusted proxies in the list: the leftmost is as far as we can see.
        assert_eq!(
            client_ip(&t, &xff("10.9.9.9, 10.1.2.3"), peer("127.0.0.1")).to_string(),
            "10.9.9.9"
        );
        // Garbage written by the client stops the walk at the last address a proxy wrote.
        assert_eq!(
            client_ip(&t, &xff("unknown, 10.1.2.3"), peer("127.0.0.1")).to_string(),
            "10.1.2.3"
        );
        // Ports, IPv6 and several header lines.
        let mut h = xff("[2001:db8::1]:443");
        h.append("x-forwarded-for", "10.0.0.2".parse().unwrap());
        assert_eq!(
            client_ip(&t, &h, peer("::ffff:127.0.0.1")).to_string(),
            "2001:db8::1"
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(&t, &HeaderMap::new(), peer("127.0.0.1")).to_string(),
            "127.0.0.1"
        );
    }
}
