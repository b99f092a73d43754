//! A private certificate authority made for one test: a CA, a server certificate for 127.0.0.1
//! signed by it, a client certificate signed by it, and an unrelated second CA (to test a wrong
//! CA). [`RedisServer::start_tls`](crate::RedisServer::start_tls) serves TLS with these files.
//!
//! Made with the `openssl` command-line tool (Debian's `openssl` package; `scripts/test` installs
//! it when missing) so that no certificate library joins the build: ECDSA P-256 keys in PKCS#8
//! PEM, X.509 v3 certificates valid for three days, with the extensions a strict verifier
//! (rustls/webpki) demands: `CA:TRUE` on the CAs, `serverAuth` and an IP subject-alt-name on the
//! server certificate, `clientAuth` on the client certificate.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The extensions of each certificate kind (`-extensions <section>`).
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = storm-test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// PEM files of a test PKI, in a directory removed on drop.
#[derive(Debug)]
pub struct TlsFiles {
    dir: PathBuf,
    /// The CA that signed the server and client certificates.
    pub ca_cert: PathBuf,
    /// The server's certificate (for 127.0.0.1 and localhost).
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// A client certificate the server accepts.
    pub client_cert: PathBuf,
    /// Its private key.
    pub client_key: PathBuf,
    /// A CA that signed nothing here: trusting it instead of `ca_cert` must fail.
    pub other_ca_cert: PathBuf,
}

impl TlsFiles {
    /// Generates a fresh CA, server and client certificate, and an unrelated CA.
    pub fn generate() -> io::Result<Self> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("storm-testkit-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let files = Self {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            other_ca_cert: dir.join("other-ca.crt"),
            dir,
        };
        let cnf = files.dir.join("openssl.cnf");
        std::fs::write(&cnf, OPENSSL_CNF)?;
        let ca_key = files.dir.join("ca.key");
        files.ca(&cnf, &ca_key, &files.ca_cert, "storm-test-ca")?;
        files.leaf(&cnf, (&files.ca_cert, &ca_key), &files.server_key, &files.server_cert, "server", 2)?;
        files.leaf(&cnf, (&files.ca_cert, &ca_key), &files.client_key, &files.client_cert, "client", 3)?;
        files.ca(&cnf, &files.dir.join("other-ca.key"), &files.other_ca_cert, "storm-other-ca")?;
        Ok(files)
    }

    /// A self-signed CA certificate and its key.
    fn ca(&self, cnf: &Path, key: &Path, cert: &Path, name: &str) -> io::Result<()> {
        new_key(key)?;
        openssl(&[
            "req",
            "-config",
            path(cnf)?,
            "-x509",
            "-new",
            "-key",
            path(key)?,
            "-sha256",
            "-days",
            "3",
            "-subj",
            &format!("/CN={name}"),
            "-extensions",
            "ca",
            "-out",
            path(cert)?,
        ])
    }

    /// A key and a certificate with the extensions of `kind`, signed by `ca` (certificate, key).
    fn leaf(&self, cnf: &Path, ca: (&Path, &Path), key: &Path, cert: &Path, kind: &str, serial: u32) -> io::Result<()> {
        new_key(key)?;
        let csr = self.dir.join(format!("{kind}.csr"));
        openssl(&[
            "req",
            "-config",
            path(cnf)?,
            "-new",
            "-key",
            path(key)?,
            "-subj",
            "/CN=localhost",
            "-out",
            path(&csr)?,
        ])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            path(&csr)?,
            "-CA",
            path(ca.0)?,
            "-CAkey",
            path(ca.1)?,
            "-set_serial",
            &serial.to_string(),
            "-days",
            "3",
            "-sha256",
            "-extfile",
            path(cnf)?,
            "-extensions",
            kind,
            "-out",
            path(cert)?,
        ])
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn new_key(key: &Path) -> io::Result<()> {
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path(key)?])
}

fn path(p: &Path) -> io::Result<&str> {
    p.to_str().ok_or_else(|| io::Error::other(format!("not UTF-8: {}", p.display())))
}

/// Runs `openssl args`; its stderr becomes the error.
fn openssl(args: &[&str]) -> io::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run openssl (is it installed?): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "openssl {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
