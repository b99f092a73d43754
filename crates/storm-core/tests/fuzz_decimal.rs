//! Fuzzing of storm-core's parsers of outside text: `Price`/`Qty` decimal strings (`FromStr` and
//! serde, JSON and msgpack), `Level` pairs, the book's fixed-point reader `book::fixed::parse_fixed`,
//! and the words `BookStatus`, `Channel` and `Side`.
//!
//! Bounded by `STORM_FUZZ_CASES` (see `storm_testkit::fuzz`); a long run:
//! `STORM_FUZZ_CASES=1000000 cargo test --release -p storm-core --test fuzz_decimal`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;
use storm_core::book::fixed::{decimal_to_fixed, fixed_to_decimal, parse_fixed};
use storm_core::{BookStatus, Channel, Level, Price, Qty, Side};
use storm_testkit::fuzz::{cases, mutate_str, HOSTILE_NUMBERS};

/// Real decimal strings: BTCUSDT levels of the 2024 recording, an ETHBTC price, filter values.
const SEEDS: &[&str] = &[
    "61837.63000000",
    "3.78826000",
    "0.00000000",
    "0.05310000",
    "0.00001000",
    "9000000.00000000",
    "117290.77000000",
    "-100.00000000",
];

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(cases(10_000))
}

/// `s` split as a plain decimal `-?<digits>[.<digits>]`: (negative, int digits, frac digits).
fn plain(s: &str) -> Option<(bool, &str, Option<&str>)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    (digits(int) && frac.is_none_or(digits)).then_some((neg, int, frac))
}

/// Whether a plain decimal fits a `Decimal` at its own scale: at most 28 fractional digits and a
/// mantissa (all digits) below 2^96.
fn fits(int: &str, frac: &str) -> bool {
    let digits = format!("{}{frac}", int.trim_start_matches('0'));
    let digits = digits.trim_start_matches('0');
    frac.len() <= 28 && (digits.len() < 29 || (digits.len() <= 38 && digits.parse::<u128>().is_ok_and(|m| m < 1 << 96)))
}

/// Checks one string against every decimal entry point; they must agree, and accept exactly the
/// plain decimals that fit, with their value and scale.
fn check_decimal(s: &str) -> Result<(), TestCaseError> {
    let from_str = Price::from_str(s);
    let qty = Qty::from_str(s);
    prop_assert_eq!(from_str.is_ok(), qty.is_ok());
    let json = serde_json::to_string(s).unwrap();
    let via_json = serde_json::from_str::<Price>(&json);
    let via_msgpack = rmp_serde::from_slice::<Price>(&rmp_serde::to_vec(s).unwrap());
    prop_assert_eq!(from_str.as_ref().ok(), via_json.as_ref().ok(), "JSON and FromStr disagree on {:?}", s);
    prop_assert_eq!(from_str.as_ref().ok(), via_msgpack.as_ref().ok(), "msgpack and FromStr disagree on {:?}", s);
    let expected_ok = plain(s).is_some_and(|(_, int, frac)| fits(int, frac.unwrap_or("")));
    prop_assert_eq!(from_str.is_ok(), expected_ok, "acceptance of {:?}: {:?}", s, from_str);
    if let (Ok(p), Some((neg, int, frac))) = (from_str, plain(s)) {
        let frac = frac.unwrap_or("");
        prop_assert_eq!(p.0.scale() as usize, frac.len(), "scale of {:?}", s);
        // The value digit for digit: Display writes the mantissa at the kept scale.
        let int_trimmed = match int.trim_start_matches('0') {
            "" => "0",
            t => t,
        };
        let magnitude = if frac.is_empty() { int_trimmed.to_owned() } else { format!("{int_trimmed}.{frac}") };
        let shown = p.to_string();
        let shown = shown.strip_prefix('-').unwrap_or(&shown);
        prop_assert_eq!(shown, magnitude.as_str(), "value of {:?}", s);
        prop_assert!(!neg || p.0.is_zero() || p.0.is_sign_negative(), "sign of {:?}", s);
        prop_assert!(neg || !p.0.is_sign_negative(), "sign of {:?}", s);
    }
    Ok(())
}

fn hostile() -> impl Strategy<Value = String> {
    prop::sample::select(HOSTILE_NUMBERS).prop_map(str::to_owned)
}

fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28)
        .prop_map(|(lo, mid, hi, neg, scale)| Decimal::from_parts(lo, mid, hi, neg, scale))
}

proptest! {
    #![proptest_config(config())]

    /// Any string at all, and strings made of the characters numbers are made of.
    #[test]
    fn any_string_is_an_exact_decimal_or_an_error(
        s in prop_oneof![any::<String>(), "[-+0-9._eE ]{0,40}", "-?[0-9]{1,40}(\\.[0-9]{0,40})?", hostile()],
    ) {
        check_decimal(&s)?;
    }

    /// Real decimal strings, edited: digits flipped, inserted, deleted, replaced by hostile numbers.
    #[test]
    fn mutated_real_decimals_are_exact_or_errors(
        seed in prop::sample::select(SEEDS),
        edits in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..4),
    ) {
        // Decimal strings are JSON string contents: edit them inside their quotes.
        let quoted = mutate_str(&format!("\"{seed}\""), &edits);
        let s = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')).unwrap_or(&quoted);
        check_decimal(s)?;
    }

    /// Every `Decimal` written by storm reads back identical, scale included, in text, JSON and
    /// msgpack, alone and as a `Level`.
    #[test]
    fn written_decimals_read_back_identical(price in any_decimal(), qty in any_decimal()) {
        let p = Price(price);
        let back: Price = p.to_string().parse().unwrap();
        prop_assert_eq!((back.0.mantissa(), back.0.scale()), (price.mantissa(), price.scale()));
        let level = Level::new(p, Qty(qty));
        let json = serde_json::to_string(&level).unwrap();
        let from_json: Level = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(from_json, level);
        prop_assert_eq!(from_json.qty.0.scale(), qty.scale());
        let from_msgpack: Level = rmp_serde::from_slice(&rmp_serde::to_vec_named(&level).unwrap()).unwrap();
        prop_assert_eq!(from_msgpack, level);
    }

    /// `["price","qty"]` pairs, edited: a level that parses has two exact decimals and writes
    /// itself back to text that parses to the same level.
    #[test]
    fn mutated_levels_parse_to_exact_pairs_or_fail(
        edits in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 0..5),
    ) {
        let text = mutate_str(r#"["61837.63000000","3.78826000"]"#, &edits);
        if let Ok(level) = serde_json::from_str::<Level>(&text) {
            let values: Vec<String> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(values.len(), 2);
            prop_assert_eq!(level.price, Price::from_str(&values[0]).unwrap());
            prop_assert_eq!(level.qty, Qty::from_str(&values[1]).unwrap());
            let again: Level = serde_json::from_str(&serde_json::to_string(&level).unwrap()).unwrap();
            prop_assert_eq!(again, level);
        }
        if let Ok(level) = Level::parse(&text, "1") {
            prop_assert_eq!(level.price, Price::from_str(&text).unwrap());
        }
    }

    /// The book's integer reader agrees with `Decimal` on every string it accepts, at any scale,
    /// and converts back exactly.
    #[test]
    fn fixed_point_reads_exact_values_or_nothing(
        s in prop_oneof![any::<String>(), "[-+0-9.]{0,40}", "[0-9]{1,30}(\\.[0-9]{0,30})?", hostile()],
        scale in 0u32..=28,
    ) {
        if let Some(v) = parse_fixed(&s, scale) {
            let d = Decimal::from_str(&s);
            prop_assert!(d.is_ok(), "{:?} read as {} but is no decimal", s, v);
            let d = d.unwrap();
            let back = fixed_to_decimal(v, scale);
            prop_assert_eq!(back, d, "{:?} at scale {}", s, scale);
            prop_assert_eq!(back.scale(), scale);
            prop_assert_eq!(decimal_to_fixed(d, scale), Some(v));
        }
    }

    /// The words read from Redis and the wire are accepted in exactly one spelling each.
    #[test]
    fn status_channel_and_side_words_only_in_their_spelling(
        word in prop_oneof![
            any::<String>(),
            prop::sample::select(&["live", "LIVE", "syncing", "stale ", "depth", "Depth", "kline", "BUY", "buy", "SELL", ""][..])
                .prop_map(str::to_owned),
        ],
    ) {
        match word.parse::<BookStatus>() {
            Ok(s) => prop_assert_eq!(s.as_str(), word.as_str()),
            Err(msg) => prop_assert!(msg.contains("unknown book status")),
        }
        if let Ok(c) = word.parse::<Channel>() {
            prop_assert_eq!(c.as_str(), word.as_str());
        }
        if let Ok(side) = serde_json::from_str::<Side>(&serde_json::to_string(&word).unwrap()) {
            prop_assert_eq!(side.as_str(), word.as_str());
        }
    }
}
