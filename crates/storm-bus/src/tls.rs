//! Redis over TLS: the one function that turns a [`BusConfig`] into a `redis::Client`, and the
//! rule that tells a TLS failure (wrong CA, missing client certificate, a server that does not
//! speak TLS) from a network failure.
//!
//! Every Redis connection of storm is opened from a client made here ([`client`]): the shared
//! `Bus` connection, its dedicated blocking-read connections, the executor's
//! [`crate::BlockingConn`] and stormctl's one-shot connections. So a `rediss://` URL with a
//! private CA and a client certificate works the same everywhere.
//!
//! Why TLS failures are not retried: the same handshake against the same server fails the same
//! way every time, so the bus's retry-until-shutdown loop would turn a wrong CA into a process
//! that hangs at start with a warning per attempt. [`tls_failure`] recognises them and the bus
//! returns [`BusError::Tls`] at once, naming the cause (`UnknownIssuer`, `CertificateRequired`)
//! and the settings to check.
//!
//! rustls needs a process-wide crypto provider; with the features of this workspace it cannot
//! pick one by itself and panicked at the first `rediss://` connection, so [`client`] installs
//! ring's (the one reqwest and tungstenite use here) when none is installed yet.
//!
//! The files are read once, when the client is built (a rotated certificate takes a restart).
//! Only their paths ever reach a log or an error; the key's content never does (rustls' own
//! `Debug` of a private key prints `[secret key elided]`).

use std::path::{Path, PathBuf};

use redis::{Client, ClientTlsConfig, RedisError, TlsCertificates};

use crate::conn::{redacted, BusConfig};
use crate::error::BusError;

/// Files for a `rediss://` connection with a private CA and client certificates. Every field is
/// optional: without `ca_file` the server's certificate is checked against the public web roots,
/// without `cert_file`/`key_file` no client certificate is offered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// PEM file of the CA (or CAs) that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM file of this client's certificate (chain), for servers with `tls-auth-clients yes`.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the private key of `cert_file`. Its content is never logged.
    pub key_file: Option<PathBuf>,
}

impl RedisTls {
    /// True when no file is set (plain `Client::open` of the URL).
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.cert_file.is_none() && self.key_file.is_none()
    }
}

/// The client for `cfg`: the URL, with the CA and client certificate of `cfg.tls` when set.
///
/// Errors (all [`BusError::Config`], never retried): an unparsable URL; TLS files with a
/// `redis://` URL (they would be silently ignored); a certificate without its key or the other
/// way round; a file that cannot be read or holds no usable PEM.
pub fn client(cfg: &BusConfig) -> Result<Client, BusError> {
    let url = cfg.url.as_str();
    if url.starts_with("rediss://") && rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one first: either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    if cfg.tls.is_empty() {
        return Client::open(url).map_err(|e| BusError::Config(format!("redis url {}: {e}", redacted(url))));
    }
    if !url.starts_with("rediss://") {
        return Err(BusError::Config(format!(
            "redis_tls_* files are set but the redis url {} is not rediss://",
            redacted(url)
        )));
    }
    let client_tls = match (&cfg.tls.cert_file, &cfg.tls.key_file) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read("redis_tls_cert_file", cert)?,
            client_key: read("redis_tls_key_file", key)?,
        }),
        (None, None) => None,
        _ => return Err(BusError::Config("redis_tls_cert_file and redis_tls_key_file go together".into())),
    };
    let root_cert = cfg.tls.ca_file.as_deref().map(|ca| read("redis_tls_ca_file", ca)).transpose()?;
    Client::build_with_tls(url, TlsCertificates { client_tls, root_cert })
        .map_err(|e| BusError::Config(format!("redis TLS settings for {}: {e}", redacted(url))))
}

/// The bytes of a PEM file; the error names the setting and the path, never the content.
fn read(setting: &str, path: &Path) -> Result<Vec<u8>, BusError> {
    std::fs::read(path).map_err(|e| BusError::Config(format!("{setting} {}: {e}", path.display())))
}

/// The cause, when `e` is a TLS failure that a retry cannot mend: the server's certificate
/// rejected (unknown issuer, expired, wrong name), the server rejecting ours (an alert such as
/// `CertificateRequired` or `UnknownCA`), or a peer that does not speak TLS at all.
pub fn tls_failure(e: &RedisError) -> Option<String> {
    let io = std::error::Error::source(e)?.downcast_ref::<std::io::Error>()?;
    let tls = io.get_ref()?.downcast_ref::<rustls::Error>()?;
    use rustls::AlertDescription as A;
    let permanent = match tls {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType
        | rustls::Error::PeerIncompatible(_)
        | rustls::Error::InvalidMessage(_) => true,
        rustls::Error::AlertReceived(alert) => matches!(
            alert,
            A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::CertificateRequired
                | A::AccessDenied
                | A::HandshakeFailure
                | A::ProtocolVersion
                | A::DecryptError
        ),
        _ => false,
    };
    permanent.then(|| tls.to_string())
}
