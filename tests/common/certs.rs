//! Test certificates made at test time with rcgen: a CA and a server certificate it signs
//! (for `localhost` and `127.0.0.1`), written as PEM files in a fresh temporary directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// PEM files of a test PKI.
pub struct TestCerts {
    /// The CA certificate: what a client trusts (`ca_file`, Python's `server_key`).
    pub ca: PathBuf,
    /// The server certificate (signed by the CA).
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// A self-signed server certificate (its own trust anchor) and its key.
    pub self_signed: PathBuf,
    /// The key of `self_signed`.
    pub self_signed_key: PathBuf,
    /// A CA that signed nothing here: trusting it must fail the handshake.
    pub other_ca: PathBuf,
}

/// A fresh temporary directory for this process and test.
pub fn temp_dir(label: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tarp-test-{}-{}-{label}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (params.self_signed(&key).unwrap(), key)
}

fn server_params() -> CertificateParams {
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

/// Generates the PKI.
pub fn generate() -> TestCerts {
    let dir = temp_dir("certs");
    let (ca_cert, ca_key) = ca("tarp test CA");
    let key = KeyPair::generate().unwrap();
    let cert = server_params().signed_by(&key, &ca_cert, &ca_key).unwrap();
    let ss_key = KeyPair::generate().unwrap();
    let ss = server_params().self_signed(&ss_key).unwrap();
    let (other, _) = ca("some other CA");
    let write = |name: &str, pem: String| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };
    TestCerts {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("server.pem", cert.pem()),
        key: write("server.key", key.serialize_pem()),
        self_signed: write("self-signed.pem", ss.pem()),
        self_signed_key: write("self-signed.key", ss_key.serialize_pem()),
        other_ca: write("other-ca.pem", other.pem()),
    }
}
