//! storm-testkit: what integration tests and benchmarks need and production code must not have.
//!
//! * [`RedisServer`] starts a throwaway `redis-server` on a free loopback port with its own data
//!   directory, can restart it on the same port (to test reconnects) and removes it on drop. It
//!   never touches a Redis on 6379 or any other server already running on the machine.
//! * [`TlsFiles`]: a private CA with server and client certificates made for one test (the
//!   `openssl` tool), for [`RedisServer::start_tls`].
//! * [`fixtures`] finds `testdata/` and loads the real recordings in it.
//! * [`process`]: a free loopback port and a process' CPU time, for benchmarks.

pub mod fixtures;
pub mod fuzz;
pub mod process;
mod redis_server;
mod tls;

pub use redis_server::{Persistence, RedisServer};
pub use tls::TlsFiles;
