//! TLS for WebSocket (wss), through `native-tls`: setting up the connector and acceptor, and the
//! session type, which runs over a [`MemoryStream`] so that TLS, like everything else on a
//! connection, is state without I/O (see [`handshake`](super::handshake) and
//! [`websocket_protocol`](super::websocket_protocol)).
//!
//! Certificates are verified against the system's roots, plus an extra CA file when configured;
//! skipping verification takes an explicit setting and logs a warning. Built without the `tls`
//! feature, the same functions exist and say that TLS is not available.

use crate::config::{TlsIdentity, WebSocketClientConfig};
use crate::error::Error;
#[cfg(feature = "tls")]
use crate::transport::memory_stream::MemoryStream;

#[cfg(feature = "tls")]
pub(crate) use native_tls::{TlsAcceptor, TlsConnector};

/// An established TLS session over memory buffers.
#[cfg(feature = "tls")]
pub(crate) type TlsSession = native_tls::TlsStream<MemoryStream>;

/// Stand-ins without the `tls` feature, so the transports compile the same way; they are never
/// made, since the functions below refuse first.
#[cfg(not(feature = "tls"))]
mod absent {
    use std::io;

    pub(crate) enum TlsConnector {}
    pub(crate) enum TlsAcceptor {}
    pub(crate) enum TlsSession {}

    impl io::Read for TlsSession {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            match *self {}
        }
    }

    impl io::Write for TlsSession {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            match *self {}
        }

        fn flush(&mut self) -> io::Result<()> {
            match *self {}
        }
    }

    impl TlsSession {
        pub(crate) fn shutdown(&mut self) -> io::Result<()> {
            match *self {}
        }
    }
}
#[cfg(not(feature = "tls"))]
pub(crate) use absent::{TlsAcceptor, TlsConnector, TlsSession};

/// The connector for a wss client: system roots, the extra CA file, or no verification at all.
pub(crate) fn client_connector(config: &WebSocketClientConfig) -> Result<TlsConnector, Error> {
    #[cfg(feature = "tls")]
    {
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|source| Error::ReadFile {
                what: "the CA file",
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
        let read = |what, path: &std::path::PathBuf| {
            std::fs::read(path).map_err(|source| Error::ReadFile {
                what,
                path: path.clone(),
                source,
            })
        };
        let identity = native_tls::Identity::from_pkcs8(
            &read("the TLS certificate", &identity.certificate_chain)?,
            &read("the TLS key", &identity.private_key)?,
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
