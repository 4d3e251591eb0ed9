//! OpenSSL's own time-stamping authority (`openssl ts -reply`) behind a small HTTP
//! responder on a loopback port (issue 24). The TSA's root (Ed25519) and its certificate
//! (ECDSA P-256, `extendedKeyUsage=critical,timeStamping`) are made by `openssl` in a
//! temporary folder; every answer is OpenSSL's, airlock only sends the request.
//!
//! The responder is a thread on a `TcpListener` bound to port 0 (so no port race, unlike
//! the process servers in `servers.rs`): it reads one POST body (`Content-Length`), runs
//! `openssl ts -reply` on it and answers `application/timestamp-reply`. With `faketime`
//! (Debian `faketime`) the TSA's clock can be set apart from the test's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const TSA_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                       extendedKeyUsage=critical,timeStamping\n";

const TSA_CNF: &str = "[tsa]\ndefault_tsa = t\n[t]\nserial = ./tsaserial\n\
    crypto_device = builtin\nsigner_cert = ./tsa.pem\ncerts = ./ca.pem\n\
    signer_key = ./tsa.key\nsigner_digest = sha256\n\
    default_policy = 1.3.6.1.4.1.99999.1\nother_policies = 1.3.6.1.4.1.99999.2\n\
    digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = yes\ntsa_name = yes\n\
    ess_cert_id_chain = no\ness_cert_id_alg = sha256\n";

/// A running TSA; the responder thread ends with the test process.
pub struct Tsa {
    dir: tempfile::TempDir,
    port: u16,
}

/// Run `openssl ARGS` in `dir`, asserting success.
pub fn openssl_ok(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Tsa {
    /// A TSA with its own root, answering now.
    pub fn start() -> Tsa {
        Tsa::start_with_clock(None)
    }

    /// A TSA whose clock is `faketime` spec `clock` (`"+2d"`, `"@2026-01-01 00:00:00"`).
    pub fn start_with_clock(clock: Option<&str>) -> Tsa {
        let dir = tempfile::Builder::new()
            .prefix("airlock-tsa-")
            .tempdir()
            .expect("tempdir");
        make_pki(dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let (root, clock) = (dir.path().to_path_buf(), clock.map(str::to_string));
        let n = Arc::new(AtomicU64::new(0));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let i = n.fetch_add(1, Ordering::SeqCst);
                // A request that cannot be read is the client's problem; keep serving.
                let _ = answer(conn, &root, clock.as_deref(), i);
            }
        });
        Tsa { dir, port }
    }

    /// The URL to give `--tsa`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/tsa", self.port)
    }

    /// A file of the TSA's folder (`ca.pem`, `tsa.pem`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The root certificate, base64 DER, as a trust policy's `tsa` entry takes it.
    pub fn root_b64(&self) -> String {
        let pem = std::fs::read_to_string(self.path("ca.pem")).expect("read ca.pem");
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    /// `openssl ts -verify -data DATA -in TSR -CAfile ca.pem` (this TSA's root).
    pub fn openssl_verify(&self, data: &Path, tsr: &Path) -> Output {
        Command::new("openssl")
            .args(["ts", "-verify", "-data"])
            .arg(data)
            .arg("-in")
            .arg(tsr)
            .arg("-CAfile")
            .arg(self.path("ca.pem"))
            .output()
            .expect("run openssl ts -verify")
    }

    /// Assert OpenSSL accepts (or refuses) `tsr` over `data`.
    pub fn assert_openssl(&self, data: &Path, tsr: &Path, accepts: bool) {
        let out = self.openssl_verify(data, tsr);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.success() && text.contains("Verification: OK"),
            accepts,
            "openssl ts -verify of {} over {}:\n{text}",
            tsr.display(),
            data.display()
        );
    }
}

/// The root, the TSA certificate and the TSA's configuration, by `openssl`.
fn make_pki(d: &Path) {
    openssl_ok(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ed25519",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=test TSA root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl_ok(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=test TSA",
        ],
    );
    std::fs::write(d.join("tsa.ext"), TSA_EXT).expect("write tsa.ext");
    openssl_ok(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "365",
            "-extfile",
            "tsa.ext",
            "-out",
            "tsa.pem",
        ],
    );
    std::fs::write(d.join("tsaserial"), "01\n").expect("write tsaserial");
    std::fs::write(d.join("tsa.cnf"), TSA_CNF).expect("write tsa.cnf");
}

/// One HTTP exchange: read the POST body, `openssl ts -reply`, answer its bytes.
fn answer(mut conn: TcpStream, root: &Path, clock: Option<&str>, i: u64) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let (q, r) = (format!("q{i}.tsq"), format!("r{i}.tsr"));
    std::fs::write(root.join(&q), &body)?;
    let mut cmd = match clock {
        Some(c) => {
            let mut f = Command::new("faketime");
            f.args(["-f", c, "openssl"]);
            f
        }
        None => Command::new("openssl"),
    };
    let out = cmd
        .args([
            "ts",
            "-reply",
            "-config",
            "tsa.cnf",
            "-queryfile",
            &q,
            "-out",
            &r,
        ])
        .current_dir(root)
        .output()?;
    let (status, ctype, bytes) = match std::fs::read(root.join(&r)) {
        Ok(b) if out.status.success() => ("200 OK", "application/timestamp-reply", b),
        _ => ("500 Internal Server Error", "text/plain", out.stderr),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )?;
    conn.write_all(&bytes)?;
    conn.flush()
}
