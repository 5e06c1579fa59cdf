//! Resolving addresses and choosing the local socket address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use super::TransportError;

/// Resolves `address` (`"127.0.0.1:5000"`, `"[::1]:5000"`, `"example.com:5000"`) to its
/// first socket address.
pub fn resolve(address: &str) -> Result<SocketAddr, TransportError> {
    let error = |detail: String| TransportError::Resolve {
        address: address.to_string(),
        detail,
    };
    address
        .to_socket_addrs()
        .map_err(|e| error(e.to_string()))?
        .next()
        .ok_or_else(|| error("no address found".into()))
}

/// The address a client binds to reach `server`: loopback for a loopback server (so tests
/// never open a public port), any interface otherwise; the port is chosen by the OS.
pub(crate) fn client_bind_address(server: SocketAddr) -> SocketAddr {
    let ip = match (server.ip(), server.ip().is_loopback()) {
        (IpAddr::V4(_), true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (IpAddr::V4(_), false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(_), true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (IpAddr::V6(_), false) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// The address clients can use for a server bound to `bound`: an unspecified IP
/// (`0.0.0.0`) becomes loopback, since only the game knows its public address.
pub(crate) fn default_public_address(bound: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        let ip = match bound.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, bound.port())
    } else {
        bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_reports_bad_addresses() {
        assert_eq!(
            resolve("127.0.0.1:5000").unwrap(),
            "127.0.0.1:5000".parse().unwrap()
        );
        let error = resolve("not an address").unwrap_err().to_string();
        assert!(error.contains("not an address"), "{error}");
    }

    #[test]
    fn loopback_servers_get_loopback_clients() {
        let bind = client_bind_address("127.0.0.1:5000".parse().unwrap());
        assert!(bind.ip().is_loopback());
        assert_eq!(bind.port(), 0);
        assert_eq!(
            default_public_address("0.0.0.0:7000".parse().unwrap()),
            "127.0.0.1:7000".parse().unwrap()
        );
    }
}
