//! TLS for the server (rustls with the `ring` provider): the certificate chain and key, and
//! optionally a CA that client certificates must chain to (mTLS). Loaded and checked once,
//! before the server listens; each accepted connection then does its handshake within
//! [`HANDSHAKE_TIMEOUT`] (holding its `max_connections` slot), and a handshake that fails
//! or times out only closes that connection.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::{Error, Result};

/// The longest a client may take to finish its TLS handshake.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server's TLS settings: its certificate chain and private key, and (for mTLS) the CA
/// every client certificate must chain to. Build one with [`TlsConfig::from_pem_files`]
/// or [`TlsConfig::from_pem`] and set it as [`ServeOptions::tls`](super::ServeOptions::tls).
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ServerConfig>,
    client_auth: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads PEM files: `cert` (the server's certificate, then any intermediates), `key`
    /// (its private key: PKCS#8, PKCS#1 or SEC1) and, for mTLS, `client_ca` (one or more
    /// CA certificates; a client must then present a certificate that chains to one).
    /// A file that cannot be read or holds no usable PEM is [`Error::InvalidArgument`]
    /// naming the file.
    pub fn from_pem_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))
        };
        let client_ca_pem = client_ca.map(read).transpose()?;
        Self::build(
            (&read(cert)?, &cert.display().to_string()),
            (&read(key)?, &key.display().to_string()),
            client_ca_pem
                .as_deref()
                .zip(client_ca.map(|p| p.display().to_string())),
        )
    }

    /// As [`TlsConfig::from_pem_files`], from PEM text in memory.
    pub fn from_pem(cert: &[u8], key: &[u8], client_ca: Option<&[u8]>) -> Result<Self> {
        Self::build(
            (cert, "the certificate PEM"),
            (key, "the key PEM"),
            client_ca.map(|ca| (ca, "the client CA PEM".to_owned())),
        )
    }

    /// True if clients must present a certificate (mTLS).
    #[must_use]
    pub fn client_auth(&self) -> bool {
        self.client_auth
    }

    fn build(
        (cert, cert_name): (&[u8], &str),
        (key, key_name): (&[u8], &str),
        client_ca: Option<(&[u8], String)>,
    ) -> Result<Self> {
        let chain = certificates(cert, cert_name)?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| Error::invalid(format!("{key_name}: no usable private key ({e})")))?;
        let provider = Arc::new(provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::invalid(format!("TLS: {e}")))?;
        let client_auth = client_ca.is_some();
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some((pem, name)) => {
                let mut roots = RootCertStore::empty();
                for ca in certificates(pem, &name)? {
                    roots
                        .add(ca)
                        .map_err(|e| Error::invalid(format!("{name}: not a CA ({e})")))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| Error::invalid(format!("{name}: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| {
            Error::invalid(format!(
                "{cert_name} and {key_name} do not make a key pair ({e})"
            ))
        })?;
        Ok(Self {
            config: Arc::new(config),
            client_auth,
        })
    }

    /// Does the server's side of the handshake on `stream`: the TLS stream, or `None` if
    /// the handshake failed or took longer than [`HANDSHAKE_TIMEOUT`].
    pub(super) async fn accept(&self, stream: TcpStream) -> Option<TlsStream<TcpStream>> {
        let acceptor = TlsAcceptor::from(Arc::clone(&self.config));
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

/// rustls's `ring` provider: no C build beyond ring's own (aws-lc, the default, needs
/// cmake). It has no post-quantum key exchange, hence the deprecation.
#[expect(
    deprecated,
    reason = "ring is chosen for its light build; it lacks post-quantum key exchange"
)]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The certificates of a PEM text; at least one.
fn certificates(pem: &[u8], name: &str) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid(format!("{name}: bad PEM ({e})")))?;
    if chain.is_empty() {
        return Err(Error::invalid(format!("{name}: no certificate in it")));
    }
    Ok(chain)
}
