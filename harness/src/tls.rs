//! TLS for local runs. draft-httpauth-payment-00 §"Transport Security"
//! REQUIRES TLS 1.2 or later for every Payment flow, so the harness serves
//! its reference server and its client scenarios over HTTPS with a
//! throw-away certificate authority it makes itself, and judges targets
//! over HTTPS when given the authority that signed them (`--ca-cert`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// A certificate authority made for one run, and a server certificate it
/// signed for `localhost` and `127.0.0.1`.
pub struct LocalCa {
    ca_pem: String,
    leaf_pem: String,
    key_pem: String,
    ca_der: CertificateDer<'static>,
    /// The server certificate, then the authority's.
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// How a listener speaks: as a conformant server (the default) or as the
/// reference server's TLS deviations do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serving {
    /// A connection whose first byte is not a TLS handshake record is
    /// served as plain HTTP on the same port (`plain-http-too`).
    pub plain_too: bool,
    /// TLS 1.2 only, no 1.3 (`tls12-only`).
    pub tls12_only: bool,
}

impl LocalCa {
    pub fn new() -> Result<Self> {
        let setup = |e: rcgen::Error| Error::Setup(format!("local certificate authority: {e}"));
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(setup)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mppconf local CA (one run)");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(setup)?)
            .map_err(setup)?;
        let leaf_key = KeyPair::generate().map_err(setup)?;
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .map_err(setup)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(setup)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let ca_self = Self {
            leaf_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            chain: vec![leaf.der().clone(), ca.der().clone()],
            key,
        };
        // A configuration error shows now, not at the first listener.
        ca_self.acceptor(Serving::default())?;
        Ok(ca_self)
    }

    fn acceptor(&self, serving: Serving) -> Result<TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if serving.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| Error::Setup(format!("TLS server configuration: {e}")))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| Error::Setup(format!("TLS server certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// The authority's certificate, for an HTTP client to trust.
    pub fn certificate(&self) -> Result<reqwest::Certificate> {
        reqwest::Certificate::from_der(&self.ca_der)
            .map_err(|e| Error::Setup(format!("local certificate authority: {e}")))
    }

    /// Writes the authority's certificate as PEM, for a client process.
    pub fn write_pem(&self, path: &Path) -> Result<()> {
        std::fs::write(path, &self.ca_pem).map_err(|e| Error::io(path, e))
    }

    /// Writes `ca.pem`, `cert.pem` (the server certificate and the
    /// authority's) and `key.pem` into `dir`, for a server process that
    /// serves HTTPS itself.
    pub fn write_files(&self, dir: &Path) -> Result<TlsFiles> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        self.write_pem(&files.ca)?;
        let chain = format!("{}{}", self.leaf_pem, self.ca_pem);
        std::fs::write(&files.cert, chain).map_err(|e| Error::io(&files.cert, e))?;
        std::fs::write(&files.key, &self.key_pem).map_err(|e| Error::io(&files.key, e))?;
        Ok(files)
    }

    /// Accepts connections on `listener` over TLS, as `serving` says.
    pub fn listener(&self, listener: TcpListener, serving: Serving) -> Result<TlsListener> {
        let plain_too = serving.plain_too;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("listener", e))?;
        let (tx, rx) = mpsc::channel(64);
        let failures = Arc::new(Mutex::new(Vec::new()));
        let seen = failures.clone();
        let acceptor = self.acceptor(serving)?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, tx, failures) = (acceptor.clone(), tx.clone(), seen.clone());
                tokio::spawn(async move {
                    if let Some(io) = handshake(acceptor, tcp, plain_too, &failures).await {
                        let _ = tx.send((io, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener {
            rx,
            local,
            failures,
            task,
        })
    }
}

/// Where [`LocalCa::write_files`] put its PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// A connection, over TLS or (with `plain_too`) plain.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for T {}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    plain_too: bool,
    failures: &Mutex<Vec<String>>,
) -> Option<Box<dyn Connection>> {
    const TLS_HANDSHAKE_RECORD: u8 = 0x16;
    if plain_too {
        let mut first = [0u8; 1];
        match tcp.peek(&mut first).await {
            Ok(1) if first[0] != TLS_HANDSHAKE_RECORD => return Some(Box::new(tcp)),
            Ok(1) => {}
            _ => return None,
        }
    }
    match acceptor.accept(tcp).await {
        Ok(tls) => Some(Box::new(tls)),
        Err(e) => {
            if let Ok(mut f) = failures.lock() {
                f.push(e.to_string());
            }
            None
        }
    }
}

/// Connections that completed their TLS handshake, for `axum::serve`.
pub struct TlsListener {
    rx: mpsc::Receiver<(Box<dyn Connection>, SocketAddr)>,
    local: SocketAddr,
    failures: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Why handshakes failed so far (a client that does not trust the
    /// authority ends its handshake with an alert), shared with the caller.
    pub fn failures(&self) -> Arc<Mutex<Vec<String>>> {
        self.failures.clone()
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Box<dyn Connection>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(accepted) => accepted,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// An HTTP client builder that trusts `ca` when given (and the system's
/// roots otherwise), never follows redirects, and speaks HTTP/1.1.
pub fn http_client(ca: Option<&reqwest::Certificate>) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    match ca {
        Some(ca) => builder.tls_certs_only([ca.clone()]),
        None => builder,
    }
}

/// Reads a PEM certificate file given on the command line or in a manifest.
pub fn read_ca(path: &Path, field: &str) -> Result<reqwest::Certificate> {
    let pem = std::fs::read(path).map_err(|e| {
        Error::Usage(format!(
            "{field} {}: cannot read it ({e}); give the PEM file of the authority that signed the target's certificate",
            path.display()
        ))
    })?;
    reqwest::Certificate::from_pem(&pem).map_err(|e| {
        Error::Usage(format!(
            "{field} {}: not a PEM certificate ({e}); give the PEM file of the authority that signed the target's certificate",
            path.display()
        ))
    })
}

/// A folder for one run's PEM files (`what` names it), removed when
/// dropped.
pub fn scratch_dir(what: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("mppconf-{what}-"))
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))
}
