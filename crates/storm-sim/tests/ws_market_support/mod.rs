//! Shared by the market-data WebSocket tests: a simulator on a free port with its market clock
//! running, and a few bounded-time helpers around a tokio-tungstenite client.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use storm_sim::config::WsLimits;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use storm_venues::binance::wire::{parse_frame, Frame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// A client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for anything the server should do promptly.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// Limits that stay out of the way of a test: slow pings, many messages allowed.
pub fn relaxed() -> WsLimits {
    WsLimits { max_incoming_per_sec: 1_000, ..WsLimits::default() }
}

/// A running simulator.
pub struct Sim {
    pub addr: String,
    pub state: Arc<SimState>,
    pub clock: CancellationToken,
    stop: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.clock.cancel();
        self.stop.cancel();
    }
}

/// Starts a simulator whose clock makes about 500 symbol updates a second (about 17 diffs a
/// second per symbol).
pub async fn start(limits: WsLimits) -> Sim {
    let ex = Exchange::new(&ModelConfig::default(), 11, storm_core::time::now_millis());
    let state = SimState::new(ex, 6000, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    let clock = CancellationToken::new();
    tokio::spawn(server::serve(listener, state.clone(), stop.clone()));
    tokio::spawn(server::market_clock(state.clone(), Duration::from_millis(10), 5, clock.clone()));
    Sim { addr, state, clock, stop }
}

impl Sim {
    /// Opens `path` (`/ws/btcusdt@trade`, `/stream?streams=..`).
    pub async fn connect(&self, path: &str) -> Ws {
        let url = format!("ws://{}{path}", self.addr);
        tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url)).await.unwrap().unwrap().0
    }

    /// `GET` on the REST API.
    pub async fn get(&self, path_and_query: &str) -> Value {
        let r = reqwest::get(format!("http://{}{path_and_query}", self.addr)).await.unwrap();
        assert!(r.status().is_success(), "{path_and_query}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Injects a fault through the admin endpoint.
    pub async fn fault(&self, body: Value) {
        let r =
            reqwest::Client::new().post(format!("http://{}/_sim/fault", self.addr)).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 204, "fault {body} accepted");
    }
}

/// The next message of any kind, or `None` when the connection ended (close frame, EOF or
/// error) or nothing came within `wait`.
pub async fn next_message(ws: &mut Ws, wait: Duration) -> Option<Message> {
    match tokio::time::timeout(wait, ws.next()).await {
        Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) | Err(_) => None,
        Ok(Some(Ok(m))) => Some(m),
    }
}

/// The next text frame (pings and pongs skipped); panics if none comes.
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        match next_message(ws, PATIENCE).await {
            Some(Message::Text(t)) => return t.as_str().to_owned(),
            Some(_) => continue,
            None => panic!("connection ended or idle while a text frame was expected"),
        }
    }
}

/// Sends a control message and returns the reply's exact text, skipping stream frames.
pub async fn request(ws: &mut Ws, body: &str) -> String {
    ws.send(Message::Text(body.into())).await.unwrap();
    loop {
        let text = next_text(ws).await;
        if matches!(parse_frame(&text, 0), Ok(Frame::Reply { .. } | Frame::Error { .. })) {
            return text;
        }
    }
}

/// Reads until the server closes the connection; true if it did within `wait`.
pub async fn closes_within(ws: &mut Ws, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return true,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// The next depth diff (other frames skipped).
pub async fn next_diff(ws: &mut Ws) -> storm_core::DepthDiff {
    loop {
        if let Ok(Frame::Depth(d)) = parse_frame(&next_text(ws).await, 0) {
            return d;
        }
    }
}

/// A bare WebSocket client over TCP that never answers pings (every ready-made client pongs by
/// itself): it reads server frames as (opcode, payload).
pub struct SilentClient {
    tcp: TcpStream,
}

impl SilentClient {
    /// Connects and upgrades `path`.
    pub async fn connect(addr: &str, path: &str) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let hello = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(hello.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        Self { tcp }
    }

    /// The next frame (opcode, payload), or `None` at end of stream or after `wait`.
    pub async fn frame(&mut self, wait: Duration) -> Option<(u8, Vec<u8>)> {
        tokio::time::timeout(wait, self.read_frame()).await.ok().flatten()
    }

    async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        use tokio::io::AsyncReadExt;
        let b0 = self.tcp.read_u8().await.ok()?;
        let b1 = self.tcp.read_u8().await.ok()?;
        let len = match b1 & 0x7f {
            126 => u64::from(self.tcp.read_u16().await.ok()?),
            127 => self.tcp.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut payload = vec![0; len as usize];
        self.tcp.read_exact(&mut payload).await.ok()?;
        Some((b0 & 0x0f, payload))
    }
}
