//! TLS for WebSocket (wss), through `native-tls`, over a [`Link`] so that the handshake, like
//! everything else on the connection, never blocks a thread that has something else to do.
//!
//! Certificates are verified against the system's roots, plus an extra CA file when configured;
//! skipping verification takes an explicit setting and logs a warning. Built without the `tls`
//! feature, the same functions exist and say that TLS is not available.

#[cfg(feature = "tls")]
use std::time::Instant;

use crate::config::{TlsIdentity, WebSocketClientConfig};
#[cfg(feature = "tls")]
use crate::transport::websocket_link::{Link, Reader};
use crate::Error;

#[cfg(feature = "tls")]
pub(crate) use native_tls::{TlsAcceptor, TlsConnector, TlsStream};

/// Stand-ins without the `tls` feature, so the transports compile the same way; they are never
/// made, since the functions below refuse first.
#[cfg(not(feature = "tls"))]
mod absent {
    pub(crate) enum TlsConnector {}
    pub(crate) enum TlsAcceptor {}
}
#[cfg(not(feature = "tls"))]
pub(crate) use absent::{TlsAcceptor, TlsConnector};

/// The connector for a wss client: system roots, the extra CA file, or no verification at all.
pub(crate) fn client_connector(config: &WebSocketClientConfig) -> Result<TlsConnector, Error> {
    #[cfg(feature = "tls")]
    {
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|source| Error::ReadSettings {
                path: path.clone(),
                source,
            })?;
            let certificate = native_tls::Certificate::from_pem(&pem).map_err(|error| {
                Error::Tls(format!(
                    "the CA file {} holds no usable certificate: {error}",
                    path.display()
                ))
            })?;
            builder.add_root_certificate(certificate);
        }
        if config.accept_invalid_certificates {
            log::warn!(
                "{}: certificate verification is OFF (Plugin_Remote_Websocket_AcceptInvalidCertificates): \
                 anyone on the path can read and change the traffic",
                config.url()
            );
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        builder
            .build()
            .map_err(|error| Error::Tls(format!("cannot set up TLS: {error}")))
    }
    #[cfg(not(feature = "tls"))]
    {
        Err(unavailable(&config.url()))
    }
}

/// The acceptor for a wss server, from a PEM certificate chain and a PEM (PKCS #8) private key.
pub(crate) fn server_acceptor(identity: &TlsIdentity) -> Result<TlsAcceptor, Error> {
    #[cfg(feature = "tls")]
    {
        let read = |path: &std::path::PathBuf| {
            std::fs::read(path).map_err(|source| Error::ReadSettings {
                path: path.clone(),
                source,
            })
        };
        let identity = native_tls::Identity::from_pkcs8(
            &read(&identity.certificate_chain)?,
            &read(&identity.private_key)?,
        )
        .map_err(|error| Error::Tls(format!("cannot use the certificate and key: {error}")))?;
        native_tls::TlsAcceptor::new(identity)
            .map_err(|error| Error::Tls(format!("cannot set up TLS: {error}")))
    }
    #[cfg(not(feature = "tls"))]
    {
        Err(unavailable(
            &identity.certificate_chain.display().to_string(),
        ))
    }
}

#[cfg(not(feature = "tls"))]
fn unavailable(what: &str) -> Error {
    Error::Unsupported(format!(
        "{what}: TLS needs the `tls` feature, which this build lacks"
    ))
}

/// The client side of a TLS handshake over `link`, fed from `reader` until `deadline`.
#[cfg(feature = "tls")]
pub(crate) fn connect(
    connector: &TlsConnector,
    domain: &str,
    link: Link,
    reader: &Reader,
    deadline: Instant,
    stop: &crossbeam_channel::Receiver<()>,
) -> Result<TlsStream<Link>, String> {
    complete(connector.connect(domain, link), reader, deadline, stop)
}

/// The server side of a TLS handshake over `link`, fed from `reader` until `deadline`.
#[cfg(feature = "tls")]
pub(crate) fn accept(
    acceptor: &TlsAcceptor,
    link: Link,
    reader: &Reader,
    deadline: Instant,
    stop: &crossbeam_channel::Receiver<()>,
) -> Result<TlsStream<Link>, String> {
    complete(acceptor.accept(link), reader, deadline, stop)
}

/// Resumes a handshake, either side's, each time more of the far side's answer arrives.
#[cfg(feature = "tls")]
fn complete(
    mut attempt: Result<TlsStream<Link>, native_tls::HandshakeError<Link>>,
    reader: &Reader,
    deadline: Instant,
    stop: &crossbeam_channel::Receiver<()>,
) -> Result<TlsStream<Link>, String> {
    loop {
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(native_tls::HandshakeError::Failure(error)) => {
                return Err(format!("TLS handshake failed: {error}"))
            }
            Err(native_tls::HandshakeError::WouldBlock(mut midway)) => {
                reader.feed(midway.get_mut(), deadline, stop)?;
                attempt = midway.handshake();
            }
        }
    }
}
