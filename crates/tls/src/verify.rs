//! Checking a server's certificate as Open vSwitch does: the chain must lead to the CA
//! certificate and be valid now, but the name in it is not compared with the address
//! connected to.
//!
//! Open vSwitch's certificates (made by `ovs-pki`) name a switch or controller by a string
//! such as `sw id:<uuid>`, not by a host name, and OpenFlow targets are IP addresses; so
//! trust comes from the CA alone. rustls's own verifier always checks the name, so this one
//! runs the same chain check ([`verify_server_cert_signed_by_trust_anchor`]) without it and
//! leaves the handshake signatures to the stock verifier.

use std::fmt;
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::ParsedCertificate;
use rustls::{Error, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// A server certificate verifier that checks the chain against the CA and ignores names.
pub(crate) struct AnyNameVerifier {
    roots: Arc<RootCertStore>,
    /// For the handshake signatures and the schemes offered.
    webpki: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for AnyNameVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyNameVerifier")
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

impl AnyNameVerifier {
    pub(crate) fn new(
        roots: Arc<RootCertStore>,
        webpki: Arc<WebPkiServerVerifier>,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Self {
        Self {
            roots,
            webpki,
            algorithms,
        }
    }
}

impl ServerCertVerifier for AnyNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
