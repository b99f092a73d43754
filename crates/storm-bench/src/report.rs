//! Output: a table for people, or the whole report as JSON (`--json`) for scripts and for
//! docs/BENCHMARKS.md. The table says which clock each latency uses, because the sim's event
//! time is whole milliseconds and everything else is microseconds.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::candles::CandlesReport;
use crate::pipeline::{Latencies, RunReport, SweepReport};
use crate::stats::{human_us, Percentiles};

/// `YYYY-MM-DD HH:MM:SS UTC` now (no date crate needed for one timestamp).
pub fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    utc(secs)
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(secs: u64) -> String {
    let t = storm_core::time::Utc::from_millis(secs.saturating_mul(1_000));
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

fn row(name: &str, clock: &str, p: &Percentiles) -> String {
    if p.n == 0 {
        return format!("  {name:<44} {clock:<10} {:>8}", "no samples");
    }
    format!(
        "  {name:<44} {clock:<10} {:>8} {:>9} {:>9} {:>9} {:>9}",
        p.n,
        human_us(p.p50_us),
        human_us(p.p90_us),
        human_us(p.p99_us),
        human_us(p.max_us)
    )
}

/// The latency table.
pub fn latency_table(l: &Latencies) -> String {
    let mut out = vec![format!(
        "  {:<44} {:<10} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "latency", "clocks", "n", "p50", "p90", "p99", "max"
    )];
    out.push(row("sim E → book hash + tops written (Redis id)", "ms / ms", &l.e_to_hash_write));
    out.push(row("sim E → tops entry read by a consumer", "ms / µs", &l.e_to_tops));
    out.push(row("sim E → opportunity read by a consumer", "ms / µs", &l.e_to_opp));
    out.push(row("sim E → ingester receive", "ms / µs", &l.e_to_recv));
    out.push(row("ingester receive → booksync publish stamp", "µs / µs", &l.recv_to_publish));
    out.push(row("ingester receive → tops entry read", "µs / µs", &l.recv_to_tops));
    out.push(row("ingester receive → opportunity read", "µs / µs", &l.recv_to_opp));
    out.push(row("triggering tops entry read → opportunity read", "µs / µs", &l.tops_to_opp));
    out.push(format!(
        "  E→tops median, first vs last third of the window: {} → {}",
        human_us(l.e_to_tops_p50_thirds.0),
        human_us(l.e_to_tops_p50_thirds.1)
    ));
    out.join("\n")
}

/// A run as a table.
pub fn run_table(r: &RunReport) -> String {
    let mut out = vec![format!(
        "storm-bench run: {} | {} symbols | target {} ev/s in {} ms sim steps | booksync threads {} | window {:.1} s",
        r.date_utc, r.symbols, r.rate, r.step_ms, r.booksync_threads, r.window_s
    )];
    out.push(format!(
        "  received {:.0} ev/s, applied {:.0} diffs/s, tops {:.0}/s, opportunities {:.1}/s",
        r.received_per_s, r.applied_per_s, r.tops_per_s, r.opps_per_s
    ));
    out.push(format!("  {:<10} {:>7} {:>12} {:>9}", "process", "cores", "CPU µs/ev", "RSS MiB"));
    for u in &r.usage {
        out.push(format!("  {:<10} {:>7.2} {:>12.2} {:>9.1}", u.name, u.cores, u.us_per_event, u.rss_mib));
    }
    out.push(format!(
        "  CPU per event: engines {:.2} µs, engines + redis {:.2} µs",
        r.engines_us_per_event, r.engines_redis_us_per_event
    ));
    let (c0, c1) = &r.counters;
    out.push(format!(
        "  backlog (written − processed) {} → {}, booksync lag max {} ms, dropped {}, reconnects {}, resyncs {}",
        c0.backlog(),
        c1.backlog(),
        r.ticks.iter().map(|t| t.lag_ms).max().unwrap_or(0),
        c1.dropped.saturating_sub(c0.dropped),
        c1.reconnects.saturating_sub(c0.reconnects),
        c1.resyncs.saturating_sub(c0.resyncs)
    ));
    out.push(latency_table(&r.latency));
    out.push(if r.sustained { "  SUSTAINED".into() } else { format!("  NOT SUSTAINED: {}", r.problems.join("; ")) });
    out.push("  clocks: sim E is ms (truncated, stamped at the market step); all others µs, same host clock".into());
    out.join("\n")
}

/// A sweep's summary lines.
pub fn sweep_table(s: &SweepReport) -> String {
    let mut out = vec![format!(
        "  {:>8} {:>10} {:>10} {:>9} {:>9} {:>11} {:>11}  verdict",
        "target", "received", "applied", "eng µs/ev", "+redis", "E→book p50", "E→book p99"
    )];
    for r in &s.runs {
        // Live observer: E → tops entry read; sampled (the sweep's default): E → hash + tops
        // written (Redis entry id, ms).
        let l = if r.latency.e_to_tops.n > 0 { &r.latency.e_to_tops } else { &r.latency.e_to_hash_write };
        out.push(format!(
            "  {:>8} {:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>11} {:>11}  {}",
            r.rate,
            r.received_per_s,
            r.applied_per_s,
            r.engines_us_per_event,
            r.engines_redis_us_per_event,
            human_us(l.p50_us),
            human_us(l.p99_us),
            if r.sustained { "sustained".to_owned() } else { r.problems.join("; ") }
        ));
    }
    out.push(format!("highest sustained rate: {} ev/s", s.highest_sustained));
    out.push("  E→book: E → tops entry read (live observer) or E → hash + tops written (sampled, Redis id ms)".into());
    out.join("\n")
}

/// A `candles` run as a table.
pub fn candles_table(r: &CandlesReport) -> String {
    let c = &r.counts;
    let mut out = vec![
        format!(
            "storm-bench candles: {} | {} symbols × {} timeframes | {} trades/s asked | grace {} ms | forming every {} | window {:.1} s",
            r.date_utc,
            r.symbols,
            r.on_time.len(),
            r.rate,
            r.grace_ms,
            r.forming_every_ms.map_or("1000 ms (default)".into(), |ms| format!("{ms} ms")),
            r.window_s
        ),
        format!("  machine: {}, busy {:.2} cores over the window (all processes)", r.machine, r.machine_busy_cores),
        format!(
            "  folded {:.0} trades/s ({}), closed {}, amended {}, too late {}, refused {}, write errors {}",
            r.trades_per_s, c.trades, c.closed, c.amended, c.too_late, c.refused, c.write_errors
        ),
        format!("  {:<10} {:>7} {:>14} {:>9}", "process", "cores", "CPU µs/trade", "RSS MiB"),
    ];
    for u in &r.usage {
        out.push(format!("  {:<10} {:>7.3} {:>14.2} {:>9.1}", u.name, u.cores, u.us_per_trade, u.rss_mib));
    }
    out.push(format!(
        "  {:<4} {:>6} {:>8} {:>8} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
        "tf",
        "bounds",
        "expected",
        "seen",
        "missing",
        "amended",
        "p50",
        "p90",
        "p99",
        "max",
        "all p50",
        "all p99",
        "all max"
    ));
    for o in &r.on_time {
        let (l, b) = (&o.late, &o.last_of_boundary);
        out.push(format!(
            "  {:<4} {:>6} {:>8} {:>8} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
            o.tf,
            o.boundaries,
            o.expected,
            o.seen,
            o.missing,
            o.amended,
            human_us(l.p50_us),
            human_us(l.p90_us),
            human_us(l.p99_us),
            human_us(l.max_us),
            human_us(b.p50_us),
            human_us(b.p99_us),
            human_us(b.max_us)
        ));
    }
    out.push(
        "  (arrival: the candle's XADD event received by a subscriber, minus the boundary; \"all\": the last symbol of each boundary)"
            .into(),
    );
    if !r.unpaired.is_empty() {
        out.push(format!("  streams whose entries and XADD events differ in number: {}", r.unpaired.len()));
    }
    let mut cmds: Vec<String> = r
        .redis_commands
        .iter()
        .map(|(name, s)| format!("{name} {:.1}/s × {} µs", s.calls as f64 / r.window_s, s.usec / s.calls.max(1)))
        .collect();
    cmds.sort();
    out.push(format!("  redis: {}", cmds.join(", ")));
    let slow: Vec<String> = r.redis_slow.iter().map(|s| format!("{} {}", s.cmd, human_us(s.us))).collect();
    out.push(format!("  redis commands ≥ 10 ms: {} [{}]", slow.len(), slow.join(", ")));
    out.push(if r.met {
        format!("  TARGET MET: every p99 ≤ grace + 50 ms = {}, nothing missing", human_us(r.target_us))
    } else {
        format!("  TARGET NOT MET: p99 ≤ grace + 50 ms = {} (or candles missing)", human_us(r.target_us))
    });
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_454_000), "2026-12-05 07:00:00 UTC");
    }

    #[test]
    fn empty_series_say_so() {
        assert!(latency_table(&Latencies::default()).contains("no samples"));
    }
}
