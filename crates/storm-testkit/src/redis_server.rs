//! A throwaway `redis-server` for one test, plain or TLS-only ([`RedisServer::start_tls`]).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Whether the server keeps its data across a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing on disk: a restart starts empty (what an operator's crash looks like without AOF).
    None,
    /// Append-only file with `appendfsync always`: a restart keeps every acknowledged write.
    Aof,
}

/// A `redis-server` child process on a free port of 127.0.0.1, killed and cleaned up on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    persistence: Persistence,
    /// Certificate, key and client CA when it serves TLS only.
    tls: Option<[PathBuf; 3]>,
    child: Option<Child>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl RedisServer {
    /// Starts a server without persistence.
    pub fn start() -> io::Result<Self> {
        Self::start_with(Persistence::None)
    }

    /// Starts a server with the given persistence on a fresh free port.
    pub fn start_with(persistence: Persistence) -> io::Result<Self> {
        Self::start_inner(persistence, None)
    }

    /// Starts a server that speaks TLS only (`--port 0 --tls-port <free>`) with the server
    /// certificate of `files`, and requires a client certificate signed by `files.ca_cert`
    /// (`--tls-auth-clients yes`). Its [`url`](Self::url) is `rediss://127.0.0.1:<port>/`.
    pub fn start_tls(files: &crate::TlsFiles) -> io::Result<Self> {
        let tls = [files.server_cert.clone(), files.server_key.clone(), files.ca_cert.clone()];
        Self::start_inner(Persistence::None, Some(tls))
    }

    fn start_inner(persistence: Persistence, tls: Option<[PathBuf; 3]>) -> io::Result<Self> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("storm-testkit-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut last_err = io::Error::other("no attempt");
        // A free port can be taken between our probe and the server's bind: retry a few times.
        for _ in 0..5 {
            let port = crate::process::free_port()?;
            let mut server = Self { port, dir: dir.clone(), persistence, tls: tls.clone(), child: None };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut cmd = Command::new("redis-server");
        match &self.tls {
            None => cmd.arg("--port").arg(self.port.to_string()),
            Some([cert, key, ca]) => cmd
                .args(["--port", "0", "--tls-port", &self.port.to_string(), "--tls-auth-clients", "yes"])
                .arg("--tls-cert-file")
                .arg(cert)
                .arg("--tls-key-file")
                .arg(key)
                .arg("--tls-ca-cert-file")
                .arg(ca),
        };
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--daemonize", "no", "--protected-mode", "yes"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--logfile", "redis.log"]);
        // Where this run's lines start: a restart appends to the same log.
        let log_start = std::fs::metadata(self.dir.join("redis.log")).map_or(0, |m| m.len());
        match self.persistence {
            Persistence::None => cmd.args(["--appendonly", "no"]),
            Persistence::Aof => cmd.args(["--appendonly", "yes", "--appendfsync", "always"]),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run redis-server (is it installed?): {e}")))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ready(log_start) {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(io::Error::other(format!("redis-server exited at start: {status}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        Err(io::Error::other("redis-server did not answer PING within 10 s"))
    }

    /// True once the server answers: a plain PING, or for TLS (which a plain socket cannot
    /// speak) its log's "Ready to accept connections" after `log_start` plus an open port.
    fn ready(&self, log_start: u64) -> bool {
        if self.tls.is_none() {
            return ping(self.port);
        }
        let log = std::fs::read(self.dir.join("redis.log")).unwrap_or_default();
        let fresh = log.get(usize::try_from(log_start).unwrap_or(usize::MAX)..).unwrap_or_default();
        String::from_utf8_lossy(fresh).contains("Ready to accept connections")
            && TcpStream::connect_timeout(
                &SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
                Duration::from_millis(200),
            )
            .is_ok()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`, or `rediss://` when it serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// The server's process id while it runs (for CPU measurements in benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the server: a clean SIGTERM (Redis flushes its AOF), then a kill if it lingers.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (after [`stop`](Self::stop), or now).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.spawn()
    }

    /// Stops it, waits `down`, and starts it again: clients see the server go away for a while.
    pub fn restart_after(&mut self, down: Duration) -> io::Result<()> {
        self.stop();
        std::thread::sleep(down);
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
