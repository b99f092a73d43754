//! Shared by the tests that start the whole suite with `scripts/run` (fixed ports: Redis 6390,
//! sim 8765, /metrics 9101-9105 and 9107): the lock that keeps two of them apart in a checkout.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `var/run/run-script-test.lock` holding our pid: one run of this test at a time per checkout.
pub struct TestLock(PathBuf);

impl TestLock {
    pub fn take(root: &Path) -> Self {
        let dir = root.join("var/run");
        std::fs::create_dir_all(&dir).expect("var/run");
        let path = dir.join("run-script-test.lock");
        for _ in 0..2 {
            match File::options().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id()).expect("write lock");
                    return Self(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => {
                            panic!("another suite test (pid {pid}) is using the suite ({})", path.display())
                        }
                        _ => {
                            let _ = std::fs::remove_file(&path); // its test process is gone
                        }
                    }
                }
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
        panic!("cannot take {}", path.display());
    }
}

impl Drop for TestLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
