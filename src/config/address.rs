//! Hosts, ports and addresses as people write them: in `.mdf` values (`Plugin_Remote_Hostname`,
//! `Plugin_Remote_Port`, `Plugin_Remote_BindAddress`, the host and port of a WebSocket URL) and on
//! a command line (`HOST:PORT`, `[ADDRESS:]PORT`). One parser for all of them, so a value means
//! the same wherever it is written. Nothing here resolves a name.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// A host and a port, written `HOST:PORT` or `[IPV6]:PORT`: where a client connects.
///
/// ```
/// use mmdagent_remote::HostPort;
///
/// let target: HostPort = "[::1]:60001".parse()?;
/// assert_eq!((target.host.as_str(), target.port), ("::1", 60001));
/// assert!("localhost".parse::<HostPort>().is_err()); // the port is required
/// # Ok::<(), mmdagent_remote::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostPort {
    /// A host name or an IP address, IPv6 without its brackets.
    pub host: String,
    /// From 1 to 65535.
    pub port: u16,
}

/// Where a server listens, written `PORT`, `ADDRESS:PORT` or `[IPV6]:PORT`: the address is an IP
/// address, not a name, and is `None` when only the port is written.
///
/// ```
/// use mmdagent_remote::ListenAddress;
///
/// let anywhere: ListenAddress = "50001".parse()?;
/// assert_eq!((anywhere.address, anywhere.port), (None, 50001));
/// let local: ListenAddress = "127.0.0.1:50001".parse()?;
/// assert_eq!(local.address, Some("127.0.0.1".parse().unwrap()));
/// # Ok::<(), mmdagent_remote::AddressError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenAddress {
    /// The address to bind, if one is written.
    pub address: Option<IpAddr>,
    /// From 1 to 65535.
    pub port: u16,
}

/// A host, port or address that cannot be used: what is wrong and how to write it, in words for
/// the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    problem: String,
}

impl AddressError {
    fn new(problem: impl Into<String>) -> Self {
        AddressError {
            problem: problem.into(),
        }
    }
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

impl std::error::Error for AddressError {}

impl FromStr for HostPort {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, AddressError> {
        let problem = || {
            AddressError::new("write HOST:PORT, as localhost:60001, 127.0.0.1:60001 or [::1]:60001")
        };
        let (host, port) = split_host_and_port(text).map_err(|_| problem())?;
        let port = port.ok_or_else(problem)?;
        Ok(HostPort {
            host: parse_host(host).map_err(|_| problem())?,
            port: parse_port(port).map_err(|_| problem())?,
        })
    }
}

impl FromStr for ListenAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, AddressError> {
        let problem = || {
            AddressError::new(
                "write PORT or ADDRESS:PORT, as 50001, 127.0.0.1:50001 or [::1]:50001 (a port from 1 to 65535)",
            )
        };
        if text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Ok(ListenAddress {
                address: None,
                port: parse_port(text).map_err(|_| problem())?,
            });
        }
        let (address, port) = split_host_and_port(text).map_err(|_| problem())?;
        let port = port.ok_or_else(problem)?;
        Ok(ListenAddress {
            address: Some(parse_ip(address).map_err(|_| problem())?),
            port: parse_port(port).map_err(|_| problem())?,
        })
    }
}

/// Splits `host[:port]` or `[ipv6][:port]`; the host keeps no brackets. A bare IPv6 address
/// (more than one `:`, no brackets) is a host without a port.
pub(crate) fn split_host_and_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| "an IPv6 address misses its closing ]".to_owned())?;
        return match after {
            "" => Ok((host, None)),
            _ => Ok((
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| "only :port may follow ]".to_owned())?,
                ),
            )),
        };
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => Ok((host, Some(port))),
        Some(_) => Ok((text, None)),
        None => Ok((text, None)),
    }
}

/// A port from 1 to 65535.
pub(crate) fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err("not a port number: write a number from 1 to 65535".to_owned()),
    }
}

/// An IP address, IPv6 with or without brackets.
pub(crate) fn parse_ip(text: &str) -> Result<IpAddr, String> {
    strip_brackets(text)
        .parse::<IpAddr>()
        .map_err(|_| "not an IP address: write one such as 0.0.0.0 (all IPv4), 127.0.0.1, :: (all IPv6) or ::1".to_owned())
}

/// A host name or an IP address, IPv6 with or without brackets. A name with a port in it
/// (`example.org:8080`) is refused: the port has a key of its own.
pub(crate) fn parse_host(text: &str) -> Result<String, String> {
    let host = strip_brackets(text);
    let problem =
        "not a host name or address: write a name such as localhost or an address such as \
                   127.0.0.1 or ::1, with no port, path or spaces (the port has a key of its own)";
    let bad_character = |c: char| c.is_whitespace() || c.is_control() || "/?#@[]".contains(c);
    if host.is_empty() || host.chars().any(bad_character) {
        return Err(problem.to_owned());
    }
    if host.contains(':') && host.parse::<Ipv6Addr>().is_err() {
        return Err(problem.to_owned());
    }
    Ok(host.to_owned())
}

fn strip_brackets(text: &str) -> &str {
    text.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_take_names_ipv4_and_bracketed_ipv6() {
        let parsed = |text: &str| text.parse::<HostPort>().map(|t| (t.host, t.port));
        assert_eq!(parsed("localhost:1"), Ok(("localhost".to_owned(), 1)));
        assert_eq!(parsed("[::1]:2"), Ok(("::1".to_owned(), 2)));
        for bad in [
            "localhost",
            ":1",
            "a:0",
            "a:b",
            "::1:5",
            "[::1]",
            "a b:1",
            "[::1]x:1",
        ] {
            assert!(parsed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_address_is_a_port_or_an_ip_address_and_a_port() {
        let parsed = |text: &str| text.parse::<ListenAddress>().map(|l| (l.address, l.port));
        assert_eq!(parsed("50001"), Ok((None, 50001)));
        assert_eq!(parsed("[::1]:5"), Ok((Some("::1".parse().unwrap()), 5)));
        for bad in ["0", "fifty", "localhost:5", "70000", "1.2.3.4:"] {
            assert!(parsed(bad).is_err(), "{bad}");
        }
    }
}
