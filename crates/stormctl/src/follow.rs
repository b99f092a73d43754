//! `--follow` for the tails: a blocking `XREAD` that resumes after the last entry printed, on a
//! retrying `storm_bus::Bus`, so a Redis restart costs a pause (logged on stderr), not the tail.
//! Ctrl-C or SIGTERM ends it cleanly with status 0.

use std::time::Duration;

use storm_bus::{Bus, BusError, StartAt, StreamEntry, StreamReader};
use tokio_util::sync::CancellationToken;

use crate::ctx::Ctx;

/// How long one `XREAD` blocks before looking at the shutdown token again.
const BLOCK: Duration = Duration::from_millis(1_000);

/// Prints (with `print`) every entry added to `streams` after the given ids until shutdown.
pub(crate) async fn follow(
    ctx: &Ctx,
    streams: Vec<(String, String)>,
    mut print: impl FnMut(&StreamEntry),
) -> anyhow::Result<()> {
    let shutdown = storm_service::shutdown::install();
    let starts: Vec<(String, StartAt)> = streams.into_iter().map(|(k, id)| (k, StartAt::After(id))).collect();
    match read_loop(ctx, &starts, shutdown, &mut print).await {
        Ok(()) | Err(BusError::Cancelled) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn read_loop(
    ctx: &Ctx,
    starts: &[(String, StartAt)],
    shutdown: CancellationToken,
    print: &mut impl FnMut(&StreamEntry),
) -> Result<(), BusError> {
    let bus = Bus::connect(ctx.bus_config(), shutdown).await?;
    crate::ctx::name_connection(&mut bus.conn()).await;
    let mut reader = StreamReader::new(&bus, starts, 100, BLOCK).await?;
    loop {
        for e in reader.next_batch().await? {
            print(&e);
        }
    }
}

/// The id to follow after: the last entry read, else "everything from the start".
pub(crate) fn after(read: &[StreamEntry]) -> String {
    read.last().map_or_else(|| "0-0".to_owned(), |e| e.id.clone())
}
