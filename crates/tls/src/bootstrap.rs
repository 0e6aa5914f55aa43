//! `bootstrap_ca_cert`: trust on first use of the peer's CA certificate, as Open vSwitch
//! does it.
//!
//! When bootstrapping is on and the CA certificate file does not exist yet, a client
//! accepts the server's chain on one condition: the server sends its CA certificate as the
//! last certificate of its chain (an `ovs-pki` controller run with `--peer-ca-cert`, or any
//! peer whose certificate file holds its CA after its own certificate), and the rest of the
//! chain verifies against it. That CA certificate is then written to the CA file (created,
//! never overwritten, read-only) and the handshake is failed on purpose, as Open vSwitch
//! fails it with `EPROTO`: the next attempt finds the file and verifies the peer the
//! ordinary way. Meanwhile a server (`pssl:`) has no CA to check clients against and, as
//! Open vSwitch's does without one, does not ask for client certificates.
//!
//! Unlike OpenSSL's check, the CA certificate's own self-signature is not verified here (the
//! verifier cannot parse it beyond using it as a trust anchor); the file only ever holds a
//! certificate that the peer's chain verifies against.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::ParsedCertificate;
use rustls::{Error, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// The client's verifier while the CA certificate file is missing.
pub(crate) struct BootstrapVerifier {
    ca_path: PathBuf,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for BootstrapVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapVerifier")
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

impl BootstrapVerifier {
    pub(crate) fn new(ca_path: PathBuf, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self {
            ca_path,
            algorithms,
        }
    }
}

impl ServerCertVerifier for BootstrapVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some((ca, between)) = intermediates.split_last() else {
            return Err(Error::General(
                "cannot bootstrap the CA certificate: the peer sent none".into(),
            ));
        };
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| Error::General(format!("cannot bootstrap the CA certificate: {e}")))?;
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &roots,
            between,
            now,
            self.algorithms.all,
        )?;
        save(&self.ca_path, ca).map_err(|e| {
            Error::General(format!(
                "{}: could not save the bootstrapped CA certificate ({})",
                self.ca_path.display(),
                crate::os_words(&e)
            ))
        })?;
        // Failed on purpose: the next connection verifies against the saved file.
        Err(Error::General(format!(
            "successfully bootstrapped CA certificate to {}; reconnecting",
            self.ca_path.display()
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Writes `cert` as PEM to a new, read-only `path`; an existing file is an error (another
/// connection, or the administrator, got there first: it is not replaced).
fn save(path: &Path, cert: &CertificateDer<'_>) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)?;
    file.write_all(pem("CERTIFICATE", cert.as_ref()).as_bytes())?;
    file.sync_all()
}

/// `der` as a PEM block: base64 in lines of 64 characters between the labels.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        // One character per 6 bits present, then '=' for each missing byte.
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (n >> (18 - 6 * i)) & 0x3f;
                b64.push(char::from(ALPHABET[index as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::pem;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn pem_blocks_read_back() {
        for len in [0usize, 1, 2, 3, 47, 48, 49, 100, 1000] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let text = pem("CERTIFICATE", &der);
            assert!(text.lines().all(|l| l.len() <= 64));
            let back = CertificateDer::from_pem_slice(text.as_bytes());
            if len == 0 {
                continue;
            }
            assert_eq!(back.expect("parses").as_ref(), &der[..], "{len} bytes");
        }
    }
}
