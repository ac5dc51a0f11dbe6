//! TLS for HTTPS and for nats-server's client and WebSocket listeners: from a given certificate and
//! key, or a local CA and server certificate generated into `<data-dir>/tls` (`--tls-self-signed`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::identity::{ensure_private_dir, write_private_file};

/// TLS flags of `symphony serve`.
#[derive(Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// PEM certificate (chain) for HTTPS and NATS.
    #[arg(long, requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA that issued --tls-cert, when it is not publicly trusted (the server trusts it for its
    /// own NATS connections; give the same file to extensions as SYMPHONY_CA_FILE).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Generate a local CA and a server certificate into <data-dir>/tls (extensions trust
    /// <data-dir>/tls/ca.pem through SYMPHONY_CA_FILE).
    #[arg(long)]
    pub tls_self_signed: bool,
    /// Extra DNS names or IP addresses for the generated certificate (repeatable).
    #[arg(long = "tls-san")]
    pub tls_sans: Vec<String>,
}

/// The PEM files TLS runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA to trust for our own connections (None: the system roots).
    pub ca: Option<PathBuf>,
}

impl TlsArgs {
    /// The files to use, generating them for `--tls-self-signed`. `None` means plain HTTP and NATS.
    pub fn resolve(&self, data_dir: &Path, hosts: &[String]) -> anyhow::Result<Option<TlsFiles>> {
        if self.tls_self_signed {
            let mut sans: Vec<String> = hosts.to_vec();
            sans.extend(self.tls_sans.iter().cloned());
            return self_signed(&data_dir.join("tls"), &sans).map(Some);
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                for f in [cert, key] {
                    anyhow::ensure!(f.exists(), "TLS file {} does not exist", f.display());
                }
                Ok(Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    ca: self.tls_ca.clone(),
                }))
            }
            _ => Ok(None),
        }
    }
}

/// Creates (once) a local CA in `dir` and (on every start) a server certificate for `sans` signed by it.
pub fn self_signed(dir: &Path, sans: &[String]) -> anyhow::Result<TlsFiles> {
    ensure_private_dir(dir)?;
    let (ca_pem, ca_key_pem) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    if !ca_pem.exists() || !ca_key_pem.exists() {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        write_private_file(&ca_key_pem, key.serialize_pem().as_bytes())?;
        write_private_file(&ca_pem, cert.pem().as_bytes())?;
        tracing::info!(ca = %ca_pem.display(), "created a local certificate authority");
    }
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&ca_key_pem)?)
        .context("tls/ca-key.pem is malformed")?;
    // The issuer is the CA's subject and key; rebuilding its parameters signs exactly as the CA.
    let issuer = Issuer::new(ca_params()?, ca_key);

    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for s in sans {
        let s = s.trim_matches(|c| c == '[' || c == ']').to_owned();
        if !s.is_empty() && s != "0.0.0.0" && s != "::" && !names.contains(&s) {
            names.push(s);
        }
    }
    let mut params = CertificateParams::new(names.clone())?;
    params.distinguished_name.push(
        DnType::CommonName,
        names
            .iter()
            .find(|n| n.parse::<IpAddr>().is_err())
            .cloned()
            .unwrap_or_default(),
    );
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server-key.pem"));
    write_private_file(&key_path, key.serialize_pem().as_bytes())?;
    write_private_file(&cert_path, cert.pem().as_bytes())?;
    Ok(TlsFiles {
        cert: cert_path,
        key: key_path,
        ca: Some(ca_pem),
    })
}

/// The local CA's parameters (the same on every start, so the stored key keeps issuing for it).
fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Symphony local CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Installs ring as rustls' process-wide crypto provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn self_signed_makes_a_private_ca_and_a_server_cert_for_the_names() {
        let dir = tempfile::tempdir().unwrap();
        let files = self_signed(
            dir.path(),
            &["symphony.example.com".into(), "10.1.2.3".into()],
        )
        .unwrap();
        let ca_before = std::fs::read(files.ca.as_ref().unwrap()).unwrap();
        for f in [&files.key, &dir.path().join("ca-key.pem")] {
            assert_eq!(
                std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let pem = std::fs::read_to_string(&files.cert).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        // The CA is reused; the server certificate is made anew.
        let again = self_signed(dir.path(), &[]).unwrap();
        assert_eq!(
            std::fs::read(again.ca.as_ref().unwrap()).unwrap(),
            ca_before
        );
    }
}
