//! [`ToSocketAddrs`]: the address arguments of `bind` and `connect`, and
//! their resolution without blocking the loop.
//!
//! A numeric address (`"127.0.0.1:8080"`, `"[::1]:80"`, a `SocketAddr`, an
//! `(IpAddr, u16)`) is parsed on the spot. A host name (`"localhost:8080"`,
//! `("example.com", 443)`) is resolved by the system resolver, which
//! blocks: that runs on the runtime's blocking pool ([`resolve_host`]), and
//! the loop goes on meanwhile.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A value that names one or more socket addresses: what
/// [`TcpListener::bind`](super::TcpListener::bind) and
/// [`TcpStream::connect`](super::TcpStream::connect) accept.
///
/// Like `std::net::ToSocketAddrs`, but resolving a host name does not
/// block the loop. Implemented for [`SocketAddr`] (and its V4/V6 forms),
/// `(IpAddr, u16)` (and the V4/V6 forms), `(&str, u16)`, `(String, u16)`,
/// `&str` and `String` (`"host:port"`), `&[SocketAddr]`, and references to
/// any of these. The trait is sealed: it cannot be implemented outside
/// taskloop.
///
/// # Examples
/// ```
/// # taskloop::run(async {
/// use std::net::{Ipv4Addr, SocketAddr};
/// use taskloop::net::TcpListener;
/// let a = TcpListener::bind("127.0.0.1:0").await?;
/// let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
/// let c = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
/// let d = TcpListener::bind("localhost:0").await?; // resolved off the loop
/// # drop((a, b, c, d));
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use super::*;

    /// What an address argument turns into before any I/O.
    #[derive(Debug)]
    pub enum Target {
        /// Numeric addresses, already parsed (or the parse error).
        Addrs(io::Result<Vec<SocketAddr>>),
        /// `"host:port"` with a host name: for the resolver.
        Host(String),
    }

    /// The method behind [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait Sealed {
        /// Parses numeric input; names a host to resolve otherwise.
        fn to_target(&self) -> Target;
    }
}

use sealed::{Sealed, Target};

/// Resolves `addr` to its addresses, the host names among them off the
/// loop thread.
///
/// # Errors
/// A malformed address, or the resolver's error; an empty resolution is an
/// `InvalidInput` error. A cancellation delivered while a host is being
/// resolved is an error carrying [`Cancelled`](crate::Cancelled).
pub(crate) async fn resolve(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.to_target() {
        Target::Addrs(addrs) => addrs?,
        Target::Host(host) => resolve_host(host).await?,
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        ));
    }
    Ok(addrs)
}

/// Resolves `host` (`"name:port"`) with the system resolver on the
/// runtime's blocking pool ([`to_thread`](crate::to_thread), as asyncio runs
/// `getaddrinfo` in its executor), so the loop is not blocked; a
/// cancellation checkpoint (the lookup finishes on its thread, its answer
/// dropped on the loop).
async fn resolve_host(host: String) -> io::Result<Vec<SocketAddr>> {
    let lookup = crate::to_thread(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&host).map(Vec::from_iter)
    });
    lookup.await.map_err(io::Error::from)?
}

/// Splits `"host:port"` (or `"[v6]:port"`) at its last colon.
fn split_host_port(s: &str) -> io::Result<(&str, u16)> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address");
    let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
    let port = port.parse().map_err(|_| invalid())?;
    Ok((host, port))
}

/// `host` and `port` as a target: numeric hosts parsed, names resolved.
fn host_port(host: &str, port: u16) -> Target {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) => Target::Addrs(Ok(vec![SocketAddr::new(ip, port)])),
        Err(_) => Target::Host(format!("{host}:{port}")),
    }
}

impl Sealed for str {
    fn to_target(&self) -> Target {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Target::Addrs(Ok(vec![addr]));
        }
        match split_host_port(self) {
            Ok((host, port)) => host_port(host, port),
            Err(e) => Target::Addrs(Err(e)),
        }
    }
}
impl ToSocketAddrs for str {}

impl Sealed for String {
    fn to_target(&self) -> Target {
        self.as_str().to_target()
    }
}
impl ToSocketAddrs for String {}

impl Sealed for (&str, u16) {
    fn to_target(&self) -> Target {
        host_port(self.0, self.1)
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl Sealed for (String, u16) {
    fn to_target(&self) -> Target {
        host_port(&self.0, self.1)
    }
}
impl ToSocketAddrs for (String, u16) {}

impl Sealed for [SocketAddr] {
    fn to_target(&self) -> Target {
        Target::Addrs(Ok(self.to_vec()))
    }
}
impl ToSocketAddrs for [SocketAddr] {}

impl<T: Sealed + ?Sized> Sealed for &T {
    fn to_target(&self) -> Target {
        (**self).to_target()
    }
}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}

/// Numeric address types, converted with `SocketAddr::from`.
macro_rules! numeric {
    ($($t:ty),*) => {$(
        impl Sealed for $t {
            fn to_target(&self) -> Target {
                Target::Addrs(Ok(vec![SocketAddr::from(*self)]))
            }
        }
        impl ToSocketAddrs for $t {}
    )*};
}
numeric!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(a: &(impl ToSocketAddrs + ?Sized)) -> Vec<SocketAddr> {
        match a.to_target() {
            Target::Addrs(Ok(v)) => v,
            other => panic!("not numeric: {other:?}"),
        }
    }

    #[test]
    fn numeric_addresses_are_parsed_without_a_resolver() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(numeric("127.0.0.1:80"), [v4]);
        assert_eq!(numeric(&String::from("[::1]:80")), [v6]);
        assert_eq!(numeric(&("127.0.0.1", 80)), [v4]);
        assert_eq!(numeric(&("::1", 80)), [v6]);
        assert_eq!(numeric(&("[::1]", 80)), [v6]);
        assert_eq!(numeric(&(Ipv4Addr::LOCALHOST, 80)), [v4]);
        assert_eq!(numeric(&v6), [v6]);
        assert_eq!(numeric(&[v4, v6][..]), [v4, v6]);
    }

    #[test]
    fn host_names_go_to_the_resolver_and_garbage_is_invalid_input() {
        assert!(matches!("localhost:80".to_target(), Target::Host(h) if h == "localhost:80"));
        assert!(matches!(("example.com", 1).to_target(), Target::Host(h) if h == "example.com:1"));
        for bad in ["localhost", "localhost:x", "1.2.3.4:70000"] {
            match bad.to_target() {
                Target::Addrs(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
