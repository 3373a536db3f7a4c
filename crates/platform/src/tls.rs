//! TLS between Carebook's own processes and to its backing services: one
//! internal CA, one certificate per service used both as server certificate
//! and as mTLS client certificate, rustls with ring everywhere.
//!
//! A [`TlsIdentity`] holds the CA and this service's certificate and key as
//! files name them, and rebuilds its rustls configurations when the files
//! change (checked every few seconds, and at once on SIGHUP): a renewed
//! certificate is picked up without a restart. Servers take the current
//! configuration per connection; clients verify through a verifier and present
//! through a resolver that always read the current material.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self,
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        ResolvesClientCert, WebPkiServerVerifier,
    },
    crypto::CryptoProvider,
    server::WebPkiClientVerifier,
    sign::{CertifiedKey, SingleCertAndKey},
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
};
use tokio_util::sync::CancellationToken;

/// How often certificate files are checked for a change.
const WATCH_EVERY: Duration = Duration::from_secs(5);

/// Where the CA and this service's certificate and key are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the internal CA every peer's certificate must chain to.
    pub ca: PathBuf,
    /// PEM: this service's certificate (chain).
    pub cert: PathBuf,
    /// PEM (PKCS#8, SEC1 or PKCS#1): its private key.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The development layout of `carebook certs generate`: `ca.pem`,
    /// `<name>.pem` and `<name>-key.pem` in `dir`.
    pub fn in_dir(dir: &Path, name: &str) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}-key.pem")),
        }
    }
}

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}: {reason}")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// What one load of the files gave.
struct Material {
    ca_pem: String,
    certified: Arc<CertifiedKey>,
    server_verifier: Arc<WebPkiServerVerifier>,
    server_config: Arc<ServerConfig>,
    stamp: Vec<Option<SystemTime>>,
}

/// This process's TLS identity; cheap to share (`Arc`).
pub struct TlsIdentity {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<Material>>,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// The crypto every TLS connection of ours uses (ring, like every other rustls user here).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Make ring the process's default provider, for the libraries that build
/// their TLS configuration from the default (sqlx, lapin, redis). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Read {
            what,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Read {
            what,
            path: path.to_owned(),
            reason: "no certificate in the file".into(),
        });
    }
    Ok(certs)
}

fn stamp(files: &TlsFiles) -> Vec<Option<SystemTime>> {
    [&files.ca, &files.cert, &files.key]
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

fn load(files: &TlsFiles, provider: &Arc<CryptoProvider>) -> Result<Material, TlsError> {
    let stamp = stamp(files);
    let ca_certs = read_certs("the CA certificate", &files.ca)?;
    let ca_pem = std::fs::read_to_string(&files.ca).map_err(|e| TlsError::Read {
        what: "the CA certificate",
        path: files.ca.clone(),
        reason: e.to_string(),
    })?;
    let mut roots = RootCertStore::empty();
    for cert in ca_certs {
        roots
            .add(cert)
            .map_err(|e| TlsError::Invalid(format!("{}: {e}", files.ca.display())))?;
    }
    let roots = Arc::new(roots);
    let chain = read_certs("the certificate", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Read {
        what: "the private key",
        path: files.key.clone(),
        reason: e.to_string(),
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Invalid(format!("{}: {e}", files.key.display())))?;
    let certified = Arc::new(CertifiedKey::new(chain, signing_key));
    certified.keys_match().map_err(|e| {
        TlsError::Invalid(format!(
            "{} and {}: {e}",
            files.cert.display(),
            files.key.display()
        ))
    })?;
    let server_verifier =
        WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| TlsError::Invalid(e.to_string()))?;
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| TlsError::Invalid(e.to_string()))?;
    let mut server_config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_client_cert_verifier(client_verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified.clone())));
    // `http::serve_with_tls` speaks HTTP/1.1 only: agreeing to h2 with a client
    // that offers it first (curl, Go) would have it send HTTP/2 to that server.
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Material {
        ca_pem,
        certified,
        server_verifier,
        server_config: Arc::new(server_config),
        stamp,
    })
}

impl TlsIdentity {
    /// Load the files; every problem is an error naming the file.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let provider = provider();
        let material = load(&files, &provider)?;
        Ok(Arc::new(Self {
            files,
            provider,
            current: RwLock::new(Arc::new(material)),
        }))
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    fn material(&self) -> Arc<Material> {
        match self.current.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The CA as PEM text (for clients that take it as text: AMQP, Redis).
    pub fn ca_pem(&self) -> String {
        self.material().ca_pem.clone()
    }

    /// Re-read the files if any changed; `Ok(true)` when new material is in use.
    /// A broken new file leaves the previous material in use (and is an error).
    pub fn reload(&self) -> Result<bool, TlsError> {
        if stamp(&self.files) == self.material().stamp {
            return Ok(false);
        }
        let fresh = load(&self.files, &self.provider)?;
        match self.current.write() {
            Ok(mut m) => *m = Arc::new(fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(fresh),
        }
        Ok(true)
    }

    /// The server side: this certificate, and a client certificate from the
    /// CA required of every peer (mTLS). Taken per connection.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.material().server_config.clone()
    }

    /// The client side: servers verified against the CA (and by name), this
    /// certificate presented when asked. Follows reloads.
    pub fn client_config(self: &Arc<Self>) -> Result<ClientConfig, TlsError> {
        // `dangerous` only because the verifier is ours: it delegates every
        // check to webpki with the CA in use now.
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Invalid(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CurrentServerVerifier(self.clone())))
            .with_client_cert_resolver(Arc::new(CurrentClientCert(self.clone())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Reload on a timer and on SIGHUP until `cancel`.
    pub async fn watch(self: Arc<Self>, cancel: CancellationToken) {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let hup = async {
                match hangup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<()>();
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(WATCH_EVERY) => {}
                _ = hup => {}
            }
            match self.reload() {
                Ok(true) => {
                    tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                    metrics::counter!("tls_reloads_total", "outcome" => "reloaded").increment(1);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "new TLS material is unusable; keeping the previous");
                    metrics::counter!("tls_reloads_total", "outcome" => "failed").increment(1);
                }
            }
        }
    }
}

/// Verifies servers against the CA in use now.
#[derive(Debug)]
struct CurrentServerVerifier(Arc<TlsIdentity>);

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Material")
    }
}

impl ServerCertVerifier for CurrentServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0.material().server_verifier.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .material()
            .server_verifier
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .material()
            .server_verifier
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Presents the certificate in use now.
#[derive(Debug)]
struct CurrentClientCert(Arc<TlsIdentity>);

impl ResolvesClientCert for CurrentClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.material().certified.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// What terminates TLS on a listening port: a fixed acceptor (the gateway's
/// public edge), or an identity whose current mTLS configuration is taken per
/// connection.
#[derive(Clone)]
pub enum ServerTls {
    Fixed(tokio_rustls::TlsAcceptor),
    Mutual(Arc<TlsIdentity>),
}

impl ServerTls {
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        match self {
            ServerTls::Fixed(a) => a.clone(),
            ServerTls::Mutual(identity) => {
                tokio_rustls::TlsAcceptor::from(identity.server_config())
            }
        }
    }
}

/// An HTTP client for our own services: with `tls`, only `https://` URLs (and
/// redirects) to servers with a certificate from the internal CA, ours
/// presented; without, plain HTTP (and the public roots, which nothing of ours
/// uses).
pub fn http_client(
    tls: Option<&Arc<TlsIdentity>>,
    timeout: Duration,
) -> Result<reqwest::Client, TlsError> {
    build(client_builder(tls, timeout)?)
}

/// The client the portal and the FHIR service call the public API with,
/// through the gateway's internal listener, carrying users' tokens: as
/// [`http_client`], connecting within 2 s, and never following a redirect
/// (one could carry the token elsewhere).
pub fn api_client(
    tls: Option<&Arc<TlsIdentity>>,
    timeout: Duration,
) -> Result<reqwest::Client, TlsError> {
    build(
        client_builder(tls, timeout)?
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none()),
    )
}

fn client_builder(
    tls: Option<&Arc<TlsIdentity>>,
    timeout: Duration,
) -> Result<reqwest::ClientBuilder, TlsError> {
    let builder = reqwest::Client::builder().timeout(timeout);
    Ok(match tls {
        // reqwest still speaks plain HTTP to an `http://` URL whatever TLS it
        // was given: that would skip the CA and the client certificate.
        Some(identity) => builder
            .use_preconfigured_tls(identity.client_config()?)
            .https_only(true),
        None => builder,
    })
}

fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, TlsError> {
    builder
        .build()
        .map_err(|e| TlsError::Invalid(format!("HTTP client: {e}")))
}

/// A client no server can satisfy (no trusted roots at all): what a process
/// gets when its TLS client could not be built, so it fails closed.
pub fn trusting_nobody() -> reqwest::Client {
    let empty = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        });
    match empty {
        Ok(config) => reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .https_only(true)
            .build()
            .unwrap_or_default(),
        Err(_) => reqwest::Client::new(),
    }
}
