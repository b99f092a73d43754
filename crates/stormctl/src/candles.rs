//! `stormctl candles <venue> <SYM> <tf> [--from T] [--to T] [-n N] [--png FILE]`: the closed
//! candles storm-candles wrote (`storm:candles:<venue>:<SYM>:<tf>`, read by time with XRANGE,
//! the last version of each), then the one forming now (`storm:candle:*`), prices at the
//! instrument's tick and volumes at its step; `--png` draws them as a candlestick chart with
//! volume bars. `stormctl ticker <venue> [SYM]`: `storm:ticker:<venue>` as a table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;
use storm_candles::{wire, Candle, Timeframe};
use storm_core::Symbol;

use crate::ctx::Ctx;
use crate::fetch::{self, describe, entries_from_value};
use crate::numbers::{self, Digits};
use crate::output::{print_json, utc, Table};
use crate::since;

/// What `candles` was asked for.
#[derive(Clone, Debug)]
pub(crate) struct CandlesArgs {
    pub venue: String,
    pub symbol: String,
    pub tf: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub lines: usize,
    pub png: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Row {
    forming: bool,
    #[serde(flatten)]
    candle: Candle,
}

/// Runs `candles`.
pub(crate) async fn run(ctx: &Ctx, args: &CandlesArgs) -> anyhow::Result<()> {
    let tf: Timeframe = args.tf.parse().map_err(|e| anyhow!("{e}"))?;
    let now = storm_core::time::now_millis();
    let at = |t: &Option<String>| t.as_deref().map(|s| since::parse(s, now)).transpose().map_err(|e| anyhow!(e));
    let (from, to) = (at(&args.from)?, at(&args.to)?);
    let sym = Symbol::new(&args.symbol);
    let key = ctx.keys.candles(&args.venue, &sym, tf.as_str());
    let mut conn = ctx.connect().await?;
    let v: redis::Value = redis::cmd("XRANGE")
        .arg(&key)
        .arg(from.map_or("-".to_owned(), |ms| ms.to_string()))
        .arg(to.map_or("+".to_owned(), |ms| ms.to_string()))
        .query_async(&mut conn)
        .await
        .map_err(|e| anyhow!(describe(&key, &e)))?;
    let mut notes = Vec::new();
    let mut by_open: BTreeMap<u64, Candle> = BTreeMap::new();
    for e in entries_from_value(&key, &v) {
        match wire::decode(&e) {
            Ok(c) => {
                by_open.insert(c.open_ms, c);
            }
            Err(err) => notes.push(format!("{key} {}: unreadable candle ({err})", e.id)),
        }
    }
    let mut rows: Vec<Row> = by_open.into_values().map(|candle| Row { forming: false, candle }).collect();
    if args.lines > 0 && rows.len() > args.lines {
        rows.drain(..rows.len() - args.lines);
    }
    if to.is_none() {
        let hkey = ctx.keys.candle(&args.venue, &sym, tf.as_str());
        let raw: std::collections::HashMap<String, Vec<u8>> =
            redis::cmd("HGETALL").arg(&hkey).query_async(&mut conn).await.map_err(|e| anyhow!(describe(&hkey, &e)))?;
        let m = raw.get("m").map(Vec::as_slice);
        let v = raw.get("v").map(Vec::as_slice);
        if m.is_some() {
            match storm_bus::codec::decode::<Candle>(v, m) {
                Ok(c) if rows.last().is_none_or(|r| r.candle.open_ms < c.open_ms) => {
                    rows.push(Row { forming: true, candle: c })
                }
                Ok(_) => {}
                Err(err) => notes.push(format!("{hkey}: unreadable forming candle ({err})")),
            }
        }
    }
    if let Some(path) = &args.png {
        let candles: Vec<&Candle> = rows.iter().map(|r| &r.candle).collect();
        draw(path, &format!("{} {} {}", args.venue, sym, tf), &candles)
            .map_err(|e| anyhow!("--png {}: {e}", path.display()))?;
    }
    if ctx.json {
        print_json(&serde_json::json!({ "key": key, "candles": rows, "notes": notes }));
        return Ok(());
    }
    let digits = Digits::load(&mut conn, &ctx.keys, &[args.venue.as_str()]).await.unwrap_or_default();
    if rows.is_empty() {
        println!("no candles in {key} (is storm-candles running, with a trade:{sym} subscription?)");
    }
    let mut t = Table::new(&["OPEN (UTC)", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME", "TRADES", "NOTE"])
        .right(&[1, 2, 3, 4, 5, 6]);
    let (p, q) = (|d| digits.price(&args.venue, sym.as_str(), d), |d| digits.qty(&args.venue, sym.as_str(), d));
    for r in &rows {
        let c = &r.candle;
        let mut note = Vec::new();
        if r.forming {
            note.push("forming".to_owned());
        }
        if c.version > 0 {
            note.push(format!("amended v{}", c.version));
        }
        if c.backfilled {
            note.push("backfilled".to_owned());
        }
        if c.is_flat() {
            note.push("no trade".to_owned());
        }
        t.row(vec![
            utc(c.open_ms),
            p(c.open),
            p(c.high),
            p(c.low),
            p(c.close),
            q(c.volume),
            c.trades.to_string(),
            note.join(", "),
        ]);
    }
    if !rows.is_empty() {
        print!("{}", t.render());
    }
    if let Some(path) = &args.png {
        println!("chart: {}", path.display());
    }
    for n in &notes {
        println!("note: {n}");
    }
    Ok(())
}

/// Runs `ticker`.
pub(crate) async fn ticker(ctx: &Ctx, venue: &str, symbol: Option<&str>) -> anyhow::Result<()> {
    let key = ctx.keys.ticker(venue);
    let mut conn = ctx.connect().await?;
    let all = fetch::hash(&mut conn, &key).await.map_err(|e| anyhow!(describe(&key, &e)))?;
    let want = symbol.map(str::to_ascii_uppercase);
    let mut rows: Vec<(String, serde_json::Value)> = all
        .into_iter()
        .filter(|(s, _)| want.as_deref().is_none_or(|w| w == s))
        .map(|(s, json)| (s, serde_json::from_str(&json).unwrap_or(serde_json::Value::Null)))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if ctx.json {
        print_json(
            &serde_json::json!({ "key": key, "tickers": rows.iter().map(|(s, v)| serde_json::json!({"symbol": s, "ticker": v})).collect::<Vec<_>>() }),
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("no tickers in {key}{}", want.map(|w| format!(" for {w}")).unwrap_or_default());
        return Ok(());
    }
    let digits = Digits::load(&mut conn, &ctx.keys, &[venue]).await.unwrap_or_default();
    let mut t = Table::new(&["SYMBOL", "BID", "ASK", "LAST", "24H %", "24H HIGH", "24H LOW", "24H VOLUME", "TRADES"])
        .right(&[1, 2, 3, 4, 5, 6, 7, 8]);
    for (s, v) in &rows {
        let dec = |f: &str| v[f].as_str().and_then(numbers::parse);
        let price = |f: &str| dec(f).map_or("-".to_owned(), |d| digits.price(venue, s, d));
        t.row(vec![
            s.clone(),
            price("bid"),
            price("ask"),
            price("last"),
            dec("change_pct").map_or("-".to_owned(), |d| numbers::fixed(d, 2)),
            price("high_24h"),
            price("low_24h"),
            dec("volume_24h").map_or("-".to_owned(), |d| digits.qty(venue, s, d)),
            v["trades_24h"].as_u64().map_or("-".to_owned(), |n| n.to_string()),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

/// A candlestick chart with a volume panel under it.
fn draw(path: &Path, title: &str, candles: &[&Candle]) -> Result<(), String> {
    crate::pnl::chart::font()?;
    let f = |d: Decimal| d.to_f64().unwrap_or(0.0);
    let (lo, hi) = candles.iter().fold((f64::MAX, f64::MIN), |(lo, hi), c| (lo.min(f(c.low)), hi.max(f(c.high))));
    let (lo, hi) = if candles.is_empty() {
        (0.0, 1.0)
    } else if hi > lo {
        (lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    let vmax = candles.iter().map(|c| f(c.volume)).fold(0.0, f64::max).max(1e-12) * 1.1;
    let n = candles.len().max(1) as f64;
    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(460);
    let font = crate::pnl::chart::FONT;
    let first = candles.first().map_or(0, |c| c.open_ms);
    let last = candles.last().map_or(0, |c| c.open_ms);
    let caption = format!("storm: {title}, {} candle(s), {} to {}", candles.len(), utc(first), utc(last));
    let mut chart = ChartBuilder::on(&top)
        .caption(caption, (font, 18))
        .margin(10)
        .x_label_area_size(0)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..n - 0.5, lo..hi)
        .map_err(err)?;
    chart.configure_mesh().disable_x_mesh().y_desc("price").label_style((font, 12)).draw().map_err(err)?;
    let up = RGBColor(38, 166, 91);
    let down = RGBColor(214, 39, 40);
    chart
        .draw_series(candles.iter().enumerate().map(|(i, c)| {
            // Rising candles green, falling red, both bodies filled.
            CandleStick::new(i as f64, f(c.open), f(c.high), f(c.low), f(c.close), up.filled(), down.filled(), 7)
        }))
        .map_err(err)?;
    let mut vol = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..vmax)
        .map_err(err)?;
    vol.configure_mesh()
        .disable_x_mesh()
        .y_desc("volume")
        .x_desc("candle (oldest left)")
        .label_style((font, 12))
        .draw()
        .map_err(err)?;
    vol.draw_series(candles.iter().enumerate().map(|(i, c)| {
        let colour = if c.close >= c.open { up } else { down };
        Rectangle::new([(i as f64 - 0.35, 0.0), (i as f64 + 0.35, f(c.volume))], colour.mix(0.6).filled())
    }))
    .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
