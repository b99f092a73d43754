//! `doctor`'s config check of every engine section: each section the file has is loaded exactly
//! as its engine loads it — `storm_service::Config::<E>::from_parts` with the engine's own
//! section type (unknown keys are errors, `deny_unknown_fields`), the same `STORM_<SECTION>_*`
//! env overrides — then checked with the engine's own `validate` and against the configured
//! venues. stormctl itself reads only the common keys, the venues and `[stormctl]`, so without
//! this a typo such as `top_nn` in `[booksync]` passed `doctor` while booksync crash-looped.
//!
//! The section types come from the engine crates themselves: there is one definition of each
//! section, and doctor cannot drift from it.

use std::collections::BTreeMap;
use std::fmt::Display;

use storm_arbitrage::ArbitrageConfig;
use storm_booksync::BooksyncConfig;
use storm_candles::CandlesConfig;
use storm_executor::ExecutorConfig;
use storm_ingester::IngesterConfig;
use storm_service::config::{Config, EngineSection, SECTIONS};
use storm_sim::config::SimConfig;
use storm_streamer::StreamerConfig;
use storm_venues::adapter::adapter_for_kind;
use toml::Table;

use crate::ctx::StormctlConfig;

/// The outcome for one section.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Loads and validates; what was checked.
    Ok(String),
    /// The engine would refuse to start: why.
    Invalid(String),
    /// Not checked: why.
    Skipped(String),
}

/// Checks every section present in `file` (the parsed storm.toml) with the env vars `env`.
pub(crate) fn check(file: &Table, env: &BTreeMap<String, String>) -> Vec<(&'static str, Verdict)> {
    SECTIONS.iter().filter(|s| file.contains_key(**s)).map(|s| (*s, check_one(s, file, env))).collect()
}

fn check_one(section: &str, file: &Table, env: &BTreeMap<String, String>) -> Verdict {
    let result = match section {
        "ingester" => load::<IngesterConfig>(file, env).and_then(|c| {
            let v = venue(&c, &c.engine.venue)?;
            let adapter = adapter_for_kind(v.kind);
            c.engine.validate(&adapter.limits()).map_err(text)?;
            Ok(format!("venue {}, {} subscription(s)", c.engine.venue, c.engine.subscriptions.len()))
        }),
        "booksync" => load::<BooksyncConfig>(file, env).and_then(|c| {
            c.engine.validate().map_err(text)?;
            venue(&c, &c.engine.venue).map(|_| format!("venue {}", c.engine.venue))
        }),
        "streamer" => load::<StreamerConfig>(file, env).and_then(|c| {
            c.engine.validate().map_err(text)?;
            for v in &c.engine.venues {
                venue(&c, v)?;
            }
            Ok(format!("venues {}", c.engine.venues.join(", ")))
        }),
        "arbitrage" => load::<ArbitrageConfig>(file, env).and_then(|c| {
            c.engine.validate().map_err(text)?;
            venue(&c, &c.engine.venue).map(|_| format!("venue {}", c.engine.venue))
        }),
        "executor" => load::<ExecutorConfig>(file, env).and_then(|c| {
            c.engine.validate().map_err(text)?;
            venue(&c, &c.engine.venue).map(|_| format!("venue {}, mode {}", c.engine.venue, c.engine.mode.as_str()))
        }),
        "candles" => load::<CandlesConfig>(file, env).and_then(|c| {
            let plan = c.engine.plan().map_err(text)?;
            venue(&c, &c.engine.venue)?;
            Ok(format!(
                "venue {}, timeframes {}",
                c.engine.venue,
                plan.timeframes().map(|t| t.as_str()).collect::<Vec<_>>().join(" ")
            ))
        }),
        "sim" => load::<SimConfig>(file, env).map(|_| "loads".to_owned()),
        "stormctl" => load::<StormctlConfig>(file, env).map(|_| "loads".to_owned()),
        other => return Verdict::Skipped(format!("[{other}] is read by its own tool, not checked here")),
    };
    match result {
        Ok(detail) => Verdict::Ok(detail),
        Err(why) => Verdict::Invalid(why),
    }
}

/// `Config::<E>::from_parts`, as the engine's `Config::<E>::load` calls it (no `--set` flags).
fn load<E: EngineSection>(file: &Table, env: &BTreeMap<String, String>) -> Result<Config<E>, String> {
    Config::<E>::from_parts(file.clone(), env, &[]).map_err(text)
}

fn venue<'a, E>(c: &'a Config<E>, name: &str) -> Result<&'a storm_service::config::VenueConfig, String> {
    c.venues.iter().find(|v| v.name == name).ok_or_else(|| {
        let names: Vec<&str> = c.venues.iter().map(|v| v.name.as_str()).collect();
        format!("venue {name:?} is not a [[venue]] of the file (it has: {})", names.join(", "))
    })
}

fn text(e: impl Display) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().expect("toml")
    }

    const VENUE: &str = "[[venue]]\nname = \"sim\"\nkind = \"binance\"\nrest_url = \"http://x\"\nws_url = \"ws://x\"\n";

    #[test]
    fn a_typo_in_any_engine_section_is_found_and_named() {
        let ok = table(&format!("{VENUE}[booksync]\nvenue = \"sim\"\ntop_n = 20\n"));
        assert_eq!(check(&ok, &BTreeMap::new()), vec![("booksync", Verdict::Ok("venue sim".into()))]);
        let typo = table(&format!("{VENUE}[booksync]\nvenue = \"sim\"\ntop_nn = 20\n"));
        let got = check(&typo, &BTreeMap::new());
        assert!(matches!(&got[0].1, Verdict::Invalid(why) if why.contains("top_nn")), "{got:?}");
        let candles = table(&format!("{VENUE}[candles]\nvenue = \"sim\"\ntimeframes = [\"1m\", \"7m\"]\n"));
        let got = check(&candles, &BTreeMap::new());
        assert!(matches!(&got[0].1, Verdict::Invalid(why) if why.contains("\"7m\"")), "{got:?}");
        let wrong_venue = table(&format!("{VENUE}[executor]\nvenue = \"binance\"\n"));
        let got = check(&wrong_venue, &BTreeMap::new());
        assert!(matches!(&got[0].1, Verdict::Invalid(why) if why.contains("\"binance\"")), "{got:?}");
        // An env override is applied (and checked) as the engine would.
        let env = BTreeMap::from([("STORM_BOOKSYNC_TOP_N".to_owned(), "not a number".to_owned())]);
        let got = check(&ok, &env);
        assert!(matches!(&got[0].1, Verdict::Invalid(_)), "{got:?}");
    }
}
