//! SSL_GET's TLS side: a [`rustls`] client (ring provider) driven sans-IO over the probe
//! layer's nonblocking socket, so the poll(2) loop in [`super::probe`] runs it like any
//! other check.
//!
//! **Certificates are not verified**, as keepalived's SSL_GET does not verify them
//! (it sets no CA and ignores the verify result): a health check asks "does this server
//! answer HTTPS correctly", not "is it who it says". The server's certificate chain,
//! names and validity dates are accepted whatever they are; only the handshake's own
//! signatures are still checked (the server must hold the key of the certificate it
//! presented). SNI is sent as keepalived sends it: only with `enable_sni` (or `sni_name`),
//! and only when the name is a DNS name (see [`super::probe`] for which name).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::{Arc, OnceLock};

/// Accepts any server certificate (keepalived's SSL_GET verifies none); handshake
/// signatures are still verified with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The one client configuration every SSL_GET shares (TLS 1.2 and 1.3, no client cert).
pub fn config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// The name the client presents: `vhost` when it is a DNS name (sent as SNI), otherwise
/// the server's address (no SNI).
pub fn server_name(vhost: Option<&str>, ip: IpAddr) -> ServerName<'static> {
    match vhost.map(|h| ServerName::try_from(h.to_string())) {
        Some(Ok(name @ ServerName::DnsName(_))) => name,
        _ => ServerName::IpAddress(ip.into()),
    }
}

/// A client connection with `request` queued to go once the handshake is done.
pub fn connect(vhost: Option<&str>, ip: IpAddr, request: &[u8]) -> Result<ClientConnection, String> {
    let mut conn =
        ClientConnection::new(config(), server_name(vhost, ip)).map_err(|e| format!("TLS: {e}"))?;
    conn.writer().write_all(request).map_err(|e| format!("TLS: {e}"))?;
    Ok(conn)
}

/// One HTTPS exchange in flight: the socket, the TLS state, the plaintext response so far.
pub struct Exchange {
    pub stream: TcpStream,
    pub conn: ClientConnection,
    pub response: Vec<u8>,
    eof: bool,
}

impl Exchange {
    pub fn new(stream: TcpStream, conn: ClientConnection) -> Self {
        Exchange { stream, conn, response: Vec::new(), eof: false }
    }

    /// The poll(2) events this exchange waits for.
    pub fn events(&self) -> i16 {
        if self.conn.wants_write() {
            libc::POLLIN | libc::POLLOUT
        } else {
            libc::POLLIN
        }
    }

    /// Moves the exchange on as far as the socket allows without blocking. `Ok(true)` once
    /// the whole response is in (the server closed, with or without close_notify; HTTP/1.0
    /// with `Connection: close` ends there); `Err` says why it failed.
    pub fn advance(&mut self, max_response: usize) -> Result<bool, String> {
        let mut chunk = [0u8; 16384];
        loop {
            let mut progress = false;
            while self.conn.wants_write() {
                match self.conn.write_tls(&mut self.stream) {
                    Ok(_) => progress = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("TLS send: {e}")),
                }
            }
            if !self.eof && self.conn.wants_read() {
                match self.conn.read_tls(&mut self.stream) {
                    Ok(0) => {
                        self.eof = true;
                        progress = true;
                    }
                    Ok(_) => progress = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("TLS receive: {e}")),
                }
            }
            if let Err(e) = self.conn.process_new_packets() {
                // Let the alert we owe the server go out, best effort.
                let _ = self.conn.write_tls(&mut self.stream);
                return Err(format!("TLS: {e}"));
            }
            loop {
                match self.conn.reader().read(&mut chunk) {
                    // close_notify: the response is complete.
                    Ok(0) => return Ok(true),
                    Ok(n) => {
                        self.response.extend_from_slice(&chunk[..n]);
                        if self.response.len() > max_response {
                            return Err("HTTP response too large".into());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // Closed without close_notify: common among HTTPS servers; the HTTP
                    // verdict decides whether what came is complete.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        if self.conn.is_handshaking() {
                            return Err("connection closed during the TLS handshake".into());
                        }
                        return Ok(true);
                    }
                    Err(e) => return Err(format!("TLS: {e}")),
                }
            }
            if self.eof {
                if self.conn.is_handshaking() {
                    return Err("connection closed during the TLS handshake".into());
                }
                return Ok(true);
            }
            if !progress {
                return Ok(false);
            }
        }
    }
}
