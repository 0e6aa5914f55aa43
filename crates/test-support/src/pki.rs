//! Certificates for `ssl:`/`pssl:` tests, made at test time by Open vSwitch's `ovs-pki`
//! (nothing is checked in).
//!
//! [`Pki::new`] runs `ovs-pki init` in a private directory: two CAs, `switchca` and
//! `controllerca`. [`Pki::switch`] and [`Pki::controller`] make a key and a certificate
//! signed by the matching CA ([`Pki::req_sign`]). As in Open vSwitch's own setup a switch
//! trusts `controllerca` and a controller (or `ovs-ofctl`, or a manager client) trusts
//! `switchca`; [`Pki::switchca`]/[`Pki::controllerca`] are those CA certificates. A second
//! `Pki` is a stranger: its certificates do not chain to the first one's CAs.

use std::path::{Path, PathBuf};

use crate::{TempDir, ToolError, require_tool};

/// A private PKI; removed with its directory on drop.
#[derive(Debug)]
pub struct Pki {
    dir: TempDir,
}

/// A key and its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// `NAME-privkey.pem`.
    pub private_key: PathBuf,
    /// `NAME-cert.pem`.
    pub certificate: PathBuf,
}

impl Pki {
    /// Runs `ovs-pki init` in a fresh directory.
    ///
    /// # Panics
    ///
    /// When `ovs-pki` is not installed or fails: the test cannot run.
    #[must_use]
    pub fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let pki = Self { dir };
        pki.ovs_pki(&["init"])
            .unwrap_or_else(|e| panic!("ovs-pki init failed: {e}"));
        pki
    }

    fn ovs_pki(&self, args: &[&str]) -> Result<String, ToolError> {
        let mut cmd = require_tool("ovs-pki").command();
        cmd.arg(format!("--dir={}", self.dir.join("pki").display()))
            .arg("--force")
            .args(args)
            .current_dir(self.dir.path());
        crate::run(&mut cmd)
    }

    /// The directory (`pki/` holds the CAs, the key pairs sit beside it).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `ovs-pki req+sign NAME TYPE` (`TYPE` is `switch` or `controller`).
    ///
    /// # Panics
    ///
    /// When `ovs-pki` fails.
    #[must_use]
    pub fn req_sign(&self, name: &str, kind: &str) -> KeyPair {
        self.ovs_pki(&["req+sign", name, kind])
            .unwrap_or_else(|e| panic!("ovs-pki req+sign {name} {kind} failed: {e}"));
        KeyPair {
            private_key: self.dir.join(format!("{name}-privkey.pem")),
            certificate: self.dir.join(format!("{name}-cert.pem")),
        }
    }

    /// A switch's key pair, signed by `switchca`.
    #[must_use]
    pub fn switch(&self, name: &str) -> KeyPair {
        self.req_sign(name, "switch")
    }

    /// A controller's key pair, signed by `controllerca`.
    #[must_use]
    pub fn controller(&self, name: &str) -> KeyPair {
        self.req_sign(name, "controller")
    }

    /// The switch CA's certificate (what controllers trust).
    #[must_use]
    pub fn switchca(&self) -> PathBuf {
        self.dir.join("pki/switchca/cacert.pem")
    }

    /// The controller CA's certificate (what switches trust).
    #[must_use]
    pub fn controllerca(&self) -> PathBuf {
        self.dir.join("pki/controllerca/cacert.pem")
    }
}
