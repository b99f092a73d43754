//! Binance's default keep-alive, on a paused clock: the server pings every 20 s and drops a
//! client that has not answered for 60 s. Virtual time makes the minute take milliseconds.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod ws_market_support;

use std::time::Duration;

use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use ws_market_support::SilentClient;

const PING: u8 = 0x9;
const CLOSE: u8 = 0x8;

#[tokio::test(start_paused = true)]
async fn default_limits_drop_a_client_that_never_pongs_after_60_seconds() {
    let ex = Exchange::new(&ModelConfig::default(), 3, 0);
    let state = SimState::new(ex, 6000, Default::default()); // 20 s pings, 60 s pong timeout
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, state, stop.clone()));

    let mut client = SilentClient::connect(&addr, "/ws/btcusdt@trade").await;
    let start = Instant::now();
    let mut pings = Vec::new();
    let closed_at = loop {
        let (op, _) = client.frame(Duration::from_secs(120)).await.expect("a frame before 120 s");
        match op {
            PING => pings.push(start.elapsed()),
            CLOSE => break start.elapsed(),
            _ => {}
        }
    };
    eprintln!("pings at {pings:?}, closed at {closed_at:?} (virtual time)");
    assert!(!pings.is_empty(), "the server pinged");
    assert!(pings[0] >= Duration::from_secs(19) && pings[0] <= Duration::from_secs(21), "first ping at {:?}", pings[0]);
    // Dropped 60 s after the first ping it left unanswered, not before.
    let silence = closed_at - pings[0];
    assert!(silence >= Duration::from_secs(60) && silence <= Duration::from_secs(61), "dropped after {silence:?}");
    stop.cancel();
}
