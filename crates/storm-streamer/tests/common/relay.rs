//! A WebSocket relay between the streamer and the sim's WS-API, over real sockets, that can do
//! what a network and a venue do to a client and the sim's WS-API cannot be asked to do: drop
//! every connection at once (no close frame), freeze them (open but silent), refuse new
//! connections for a while, and slip a
//! frame of its own (malformed JSON, an unknown event, `eventStreamTerminated`) into the stream.
//! Everything else is forwarded unchanged in both directions.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
enum Ctl {
    Cut,
    Freeze,
    Inject(Message),
}

/// The relay; stops when dropped.
pub struct Relay {
    pub addr: SocketAddr,
    ctl: broadcast::Sender<Ctl>,
    blocked: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    live: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Relay {
    /// Relays every connection to `upstream` (`ws://sim/ws-api/v3`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (ctl, _) = broadcast::channel(64);
        let relay = Self {
            addr,
            ctl: ctl.clone(),
            blocked: Arc::default(),
            connections: Arc::default(),
            live: Arc::default(),
            stop: CancellationToken::new(),
        };
        let (blocked, connections, live, stop) =
            (relay.blocked.clone(), relay.connections.clone(), relay.live.clone(), relay.stop.clone());
        tokio::spawn(async move {
            loop {
                let tcp = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = listener.accept() => match r { Ok((tcp, _)) => tcp, Err(_) => continue },
                };
                if blocked.load(Ordering::SeqCst) {
                    drop(tcp); // refused: the client sees the connection fail
                    continue;
                }
                let (upstream, mut rx, connections, live, stop) =
                    (upstream.clone(), ctl.subscribe(), connections.clone(), live.clone(), stop.clone());
                tokio::spawn(async move {
                    let Ok(mut client) = tokio_tungstenite::accept_async(tcp).await else { return };
                    let Ok((mut up, _)) = tokio_tungstenite::connect_async(upstream.as_str()).await else { return };
                    connections.fetch_add(1, Ordering::SeqCst);
                    live.fetch_add(1, Ordering::SeqCst);
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            m = client.next() => match m {
                                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                                    if up.send(m).await.is_err() { break }
                                }
                                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                                Some(Ok(_)) => {}
                            },
                            m = up.next() => match m {
                                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                                    if client.send(m).await.is_err() { break }
                                }
                                Some(Ok(Message::Close(f))) => {
                                    let _ = client.send(Message::Close(f)).await;
                                    break;
                                }
                                Some(Err(_)) | None => break,
                                Some(Ok(_)) => {}
                            },
                            c = rx.recv() => match c {
                                Ok(Ctl::Cut) => break, // dropped without a close frame
                                Ok(Ctl::Freeze) => {
                                    // Hold both sockets open and read nothing: no frame, no pong.
                                    stop.cancelled().await;
                                    break;
                                }
                                Ok(Ctl::Inject(m)) => {
                                    if client.send(m).await.is_err() { break }
                                }
                                Err(_) => {}
                            },
                        }
                    }
                    live.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        relay
    }

    /// `ws://<relay>/ws-api/v3`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws-api/v3", self.addr)
    }

    /// Drops every relayed connection at once, as a network failure would.
    pub fn cut(&self) {
        let _ = self.ctl.send(Ctl::Cut);
    }

    /// Every current connection goes silent (sockets open, nothing read or sent, pings
    /// unanswered), as a frozen network path does; new connections work normally.
    pub fn freeze(&self) {
        let _ = self.ctl.send(Ctl::Freeze);
    }

    /// While on, new connections are refused.
    pub fn block(&self, on: bool) {
        self.blocked.store(on, Ordering::SeqCst);
    }

    /// Sends a text frame to every connected client, as if the venue had sent it.
    pub fn inject_text(&self, text: &str) {
        let _ = self.ctl.send(Ctl::Inject(Message::Text(text.to_owned().into())));
    }

    /// Sends a binary frame to every connected client.
    pub fn inject_binary(&self, bytes: &[u8]) {
        let _ = self.ctl.send(Ctl::Inject(Message::Binary(bytes.to_vec().into())));
    }

    /// Connections relayed since the start.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Connections relayed now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}
