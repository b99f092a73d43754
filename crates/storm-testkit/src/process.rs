//! Small process helpers for benchmarks and tests: a free loopback port, CPU time of a process,
//! and an engine binary run from a config file that is killed when dropped.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An engine binary started with `--config <file>`; killed (SIGKILL) and its config folder
/// removed when dropped, also when a test fails halfway.
#[derive(Debug)]
pub struct EngineProcess {
    child: Option<Child>,
    dir: PathBuf,
    config: PathBuf,
}

impl EngineProcess {
    /// Writes `config` (TOML) to a fresh temporary folder and starts `binary` on it with `args`;
    /// its stdout is discarded, its stderr inherited.
    pub fn start(binary: &str, config: &str, args: &[&str]) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("storm-engine-{}-{}", std::process::id(), free_port()?));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("storm.toml");
        std::fs::write(&path, config)?;
        let mut me = Self { child: None, dir, config: path };
        me.restart(binary, args)?;
        Ok(me)
    }

    /// Starts `binary` again on the same config file (after [`EngineProcess::kill`]).
    pub fn restart(&mut self, binary: &str, args: &[&str]) -> std::io::Result<()> {
        self.kill();
        let child = Command::new(binary)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// The process id (0 once killed).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// True while the process runs (false once it exited, crashed or was killed).
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The config file.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// SIGKILL and wait: no goodbye, as `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port on 127.0.0.1 that was free a moment ago (the OS picks it).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// User + system CPU time of process `pid` in clock ticks (Linux `/proc/<pid>/stat`, 100 per
/// second); 0 when it cannot be read.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" closing the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// Sum of the Prometheus series whose line starts with `prefix` (a name, or a name with labels)
/// in a `/metrics` body; 0 when none.
pub fn metric(body: &str, prefix: &str) -> f64 {
    body.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// The body of `GET <path>` from 127.0.0.1:`port` (HTTP/1.1, one request per connection,
/// chunked replies joined): the engines' /metrics, storm-sim's REST. Panics on a reply that is not
/// 200 — for tests and benchmarks only.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("send");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read");
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return body.to_owned();
    }
    let (mut rest, mut out) = (body, String::new());
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].strip_prefix("\r\n").unwrap_or(&tail[n..]);
    }
    out
}

/// Linux clock ticks per second (`USER_HZ`).
pub const TICKS_PER_SECOND: f64 = 100.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_cpu_time_and_ports_are_free() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(cpu_ticks(std::process::id()) > 0);
        assert!(free_port().expect("port") > 0);
        let body = "# TYPE x counter\nx_total{venue=\"a\"} 2\nx_total{venue=\"b\"} 3\ny 7\n";
        assert_eq!(metric(body, "x_total"), 5.0);
        assert_eq!(metric(body, "x_total{venue=\"b\"}"), 3.0);
        assert_eq!(metric(body, "z"), 0.0);
    }
}
