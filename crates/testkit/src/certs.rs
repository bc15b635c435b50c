//! Test certificates, made fresh for each test with `rcgen` (never committed): a CA that
//! signs the server's certificate (for `localhost` and `127.0.0.1`), a CA that signs client
//! certificates, a client certificate, and a stranger CA that signed nothing here.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// The PEM files of one test's certificates, in a folder of the caller's.
pub struct TestPki {
    /// The CA that signed the server's certificate (what clients trust).
    pub server_ca: PathBuf,
    /// The server's certificate, valid for `localhost` and `127.0.0.1`.
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// The CA that signs client certificates (what the server trusts for mTLS).
    pub client_ca: PathBuf,
    /// A client certificate signed by [`TestPki::client_ca`].
    pub client_cert: PathBuf,
    /// Its private key.
    pub client_key: PathBuf,
    /// A CA that signed neither certificate: trusting it must fail.
    pub other_ca: PathBuf,
}

impl TestPki {
    /// Generates the certificates and writes them as PEM files into `dir`.
    pub fn generate(dir: &Path) -> Self {
        let server_ca = ca("workflow test server CA");
        let client_ca = ca("workflow test client CA");
        let other_ca = ca("a CA nobody here uses");
        let (server_cert, server_key) = leaf(
            &server_ca,
            "localhost",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            &client_ca,
            "workflow test client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            path
        };
        Self {
            server_ca: write("server-ca.pem", server_ca.pem()),
            server_cert: write("server.pem", server_cert),
            server_key: write("server.key", server_key),
            client_ca: write("client-ca.pem", client_ca.pem()),
            client_cert: write("client.pem", client_cert),
            client_key: write("client.key", client_key),
            other_ca: write("other-ca.pem", other_ca.pem()),
        }
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new())
        .unwrap_or_else(|e| panic!("CA parameters: {e}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
    CertifiedIssuer::self_signed(params, key).unwrap_or_else(|e| panic!("CA certificate: {e}"))
}

/// A certificate signed by `issuer` and its key, both PEM.
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params =
        CertificateParams::new(names).unwrap_or_else(|e| panic!("certificate parameters: {e}"));
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("key: {e}"));
    let cert = params
        .signed_by(&key, issuer)
        .unwrap_or_else(|e| panic!("certificate: {e}"));
    (cert.pem(), key.serialize_pem())
}
