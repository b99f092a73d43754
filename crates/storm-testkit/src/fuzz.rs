//! Shared pieces of the `tests/fuzz_*.rs` property tests: the case count and a mutation engine.
//!
//! storm fuzzes with `proptest` (stable Rust; `cargo fuzz` needs nightly). Every fuzz test reads
//! its case count through [`cases`], so one variable scales them all:
//!
//! ```text
//! cargo test --workspace                                   # bounded: each test's default
//! STORM_FUZZ_CASES=1000000 cargo test --release -p storm-venues --test fuzz_binance_frames
//! ```
//!
//! [`mutate`] is the structure-aware half of the inputs: it takes a real, valid input (a recorded
//! frame, an encoder's output) and applies a list of edits chosen by proptest — byte flips,
//! insertions, deletions and truncation, but also edits that know JSON's shape: a number (bare
//! or inside a decimal string) replaced by a hostile one (`-1`, `1e400`, `NaN`, 30 digits, ...),
//! a value replaced by one of another type, a field dropped or duplicated, a value wrapped in
//! arrays. The edits are plain `(u8, u32, u32)` triples so that this crate needs no proptest
//! dependency and proptest can shrink a failing list like any other `Vec`.

/// The env var holding the number of cases per fuzz test.
pub const CASES_ENV: &str = "STORM_FUZZ_CASES";

/// Cases per fuzz test: `$STORM_FUZZ_CASES` when set, else `default` (chosen per test so that
/// every fuzz test together stays within the bounded `cargo test` budget).
///
/// # Panics
/// When the variable is set but not a positive integer: a typo must not turn a long run into a
/// short one silently.
pub fn cases(default: u32) -> u32 {
    match std::env::var(CASES_ENV) {
        Err(_) => default,
        Ok(text) => match text.trim().parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{CASES_ENV}={text:?} is not a positive integer"),
        },
    }
}

/// Numbers a parser must survive, as they would appear in JSON text (bare or inside quotes).
pub const HOSTILE_NUMBERS: &[&str] = &[
    "-1",
    "-0",
    "0",
    "-0.00000001",
    "1e5",
    "1E+5",
    "1e-5",
    "1e400",
    "-1e400",
    "1e-400",
    "1e99999999999",
    "1e-4294967296",
    "NaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1.",
    ".5",
    "+1",
    "1_000",
    "0x10",
    "",
    " 1",
    "1 ",
    "1e",
    "--1",
    "1.2.3",
    "00001",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "4294967296",
    "79228162514264337593543950335",
    "79228162514264337593543950336",
    "-79228162514264337593543950335",
    "792281625142643375935439503350",
    "0.0000000000000000000000000001",
    "0.00000000000000000000000000001",
    "1.00000000000000000000000000005",
    "3.14159265358979323846264338327950288",
    "123456789012345678901234567890.5",
    "99999999.99999999",
    "1\u{0}",
    "\u{663}",
];

/// Whole JSON values of every type, to replace a value with one of another type.
pub const HOSTILE_VALUES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1.5",
    "1e400",
    "18446744073709551616",
    "\"\"",
    "\"x\"",
    "\"-1\"",
    "\"NaN\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\\"\"",
    "[]",
    "[[]]",
    "[\"1\"]",
    "[\"1\",\"2\",\"3\"]",
    "{}",
    "{\"e\":\"depthUpdate\"}",
    "\"depthUpdate\"",
    "\"TRADING\"",
    "\"BUY\"",
];

/// Single characters worth inserting into JSON text.
const INSERTS: &[u8] = b"\"\\{}[],:-.e0 \n\t\x00\x7f";

/// A token of JSON-ish text: its byte span and what it looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// A quoted string, quotes included.
    Str(usize, usize),
    /// A bare number.
    Num(usize, usize),
    /// A bare word (`true`, `null`, garbage).
    Word(usize, usize),
    /// One punctuation byte.
    Punct(usize),
}

/// Splits `text` into tokens; works on any bytes (an unterminated string runs to the end).
fn tokens(text: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b == b'"' {
            let mut j = i + 1;
            while j < text.len() && text[j] != b'"' {
                j += if text[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(text.len());
            out.push(Token::Str(i, end));
            i = end;
        } else if b == b'-' || b.is_ascii_digit() {
            let mut j = i + 1;
            while j < text.len() && (text[j].is_ascii_digit() || b".eE+-".contains(&text[j])) {
                j += 1;
            }
            out.push(Token::Num(i, j));
            i = j;
        } else if b.is_ascii_alphabetic() {
            let mut j = i + 1;
            while j < text.len() && text[j].is_ascii_alphanumeric() {
                j += 1;
            }
            out.push(Token::Word(i, j));
            i = j;
        } else if b.is_ascii_whitespace() {
            i += 1;
        } else {
            out.push(Token::Punct(i));
            i += 1;
        }
    }
    out
}

/// The `n`-th (modulo their count) element of `items` matching `keep`, if any.
fn nth<T: Copy>(items: &[T], n: u32, keep: impl Fn(&T) -> bool) -> Option<T> {
    let matching: Vec<T> = items.iter().copied().filter(keep).collect();
    if matching.is_empty() {
        None
    } else {
        Some(matching[n as usize % matching.len()])
    }
}

/// End (exclusive) of the JSON value starting at token `k`: the matching bracket for `[`/`{`,
/// else the token itself.
fn value_end(text: &[u8], toks: &[Token], k: usize) -> Option<usize> {
    match toks.get(k)? {
        Token::Str(_, e) | Token::Num(_, e) | Token::Word(_, e) => Some(*e),
        Token::Punct(p) if text[*p] == b'[' || text[*p] == b'{' => {
            let mut depth = 0i64;
            for t in &toks[k..] {
                if let Token::Punct(q) = t {
                    match text[*q] {
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(q + 1);
                            }
                        }
                        _ => {}
                    }
                }
            }
            None
        }
        Token::Punct(_) => None,
    }
}

/// Index of the token starting at byte `start`.
fn token_at(toks: &[Token], start: usize) -> Option<usize> {
    toks.iter().position(|t| match t {
        Token::Str(s, _) | Token::Num(s, _) | Token::Word(s, _) => *s == start,
        Token::Punct(p) => *p == start,
    })
}

/// `"key":value` pairs: (start of the key, end of the value).
fn fields(text: &[u8], toks: &[Token]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (k, t) in toks.iter().enumerate() {
        if let (Token::Str(s, _), Some(Token::Punct(c))) = (t, toks.get(k + 1)) {
            if text[*c] == b':' {
                if let Some(end) = value_end(text, toks, k + 2) {
                    out.push((*s, end));
                }
            }
        }
    }
    out
}

/// Starts of every value (string, number, word, array, object) in the text.
fn value_starts(text: &[u8], toks: &[Token]) -> Vec<usize> {
    toks.iter()
        .filter_map(|t| match t {
            Token::Str(s, _) | Token::Num(s, _) | Token::Word(s, _) => Some(*s),
            Token::Punct(p) if text[*p] == b'[' || text[*p] == b'{' => Some(*p),
            Token::Punct(_) => None,
        })
        .collect()
}

/// Applies one edit `(kind, a, b)` to `text`.
fn apply(text: &mut Vec<u8>, (kind, a, b): (u8, u32, u32)) {
    let len = text.len();
    let at = |n: u32| if len == 0 { 0 } else { n as usize % (len + 1) };
    match kind % 12 {
        // Raw byte edits.
        0 if len > 0 => {
            let i = a as usize % len;
            text[i] ^= 1 << (b % 8);
        }
        1 => text.insert(at(a), INSERTS[b as usize % INSERTS.len()]),
        2 if len > 0 => {
            let i = a as usize % len;
            let n = (1 + b as usize % 8).min(len - i);
            text.drain(i..i + n);
        }
        3 => text.truncate(at(a)),
        // A number replaced by a hostile one, bare or inside its quotes.
        4 | 5 => {
            let toks = tokens(text);
            let numeric = |t: &Token| match *t {
                Token::Num(..) => true,
                Token::Str(s, e) => {
                    e > s + 2 && text[s + 1..e - 1].iter().all(|c| c.is_ascii_digit() || *c == b'.' || *c == b'-')
                }
                _ => false,
            };
            if let Some(t) = nth(&toks, a, numeric) {
                let (s, e) = match t {
                    Token::Str(s, e) => (s + 1, e - 1),
                    Token::Num(s, e) => (s, e),
                    _ => return,
                };
                let evil = HOSTILE_NUMBERS[b as usize % HOSTILE_NUMBERS.len()];
                text.splice(s..e, evil.bytes());
            }
        }
        // A value replaced by one of another type.
        6 | 7 => {
            let toks = tokens(text);
            let starts = value_starts(text, &toks);
            if let Some(s) = nth(&starts, a, |_| true) {
                let end = token_at(&toks, s).and_then(|k| value_end(text, &toks, k));
                if let Some(e) = end {
                    text.splice(s..e, HOSTILE_VALUES[b as usize % HOSTILE_VALUES.len()].bytes());
                }
            }
        }
        // A field dropped (with one neighbouring comma).
        8 => {
            let toks = tokens(text);
            if let Some((s, e)) = nth(&fields(text, &toks), a, |_| true) {
                let (s, e) = if text.get(e) == Some(&b',') {
                    (s, e + 1)
                } else if s > 0 && text[s - 1] == b',' {
                    (s - 1, e)
                } else {
                    (s, e)
                };
                text.drain(s..e);
            }
        }
        // A field duplicated (same key twice) or moved to the front of its object.
        9 => {
            let toks = tokens(text);
            if let Some((s, e)) = nth(&fields(text, &toks), a, |_| true) {
                let copy: Vec<u8> = text[s..e].to_vec();
                if b % 2 == 0 {
                    let mut ins = copy;
                    ins.push(b',');
                    text.splice(s..s, ins);
                } else {
                    let mut ins = vec![b','];
                    ins.extend(copy);
                    text.splice(e..e, ins);
                }
            }
        }
        // A value wrapped in arrays, from one level to very deep.
        10 => {
            let toks = tokens(text);
            let starts = value_starts(text, &toks);
            if let Some(s) = nth(&starts, a, |_| true) {
                if let Some(e) = token_at(&toks, s).and_then(|k| value_end(text, &toks, k)) {
                    let depth = [1, 2, 64, 200, 5_000][b as usize % 5];
                    text.splice(e..e, std::iter::repeat_n(b']', depth));
                    text.splice(s..s, std::iter::repeat_n(b'[', depth));
                }
            }
        }
        // A slice of the text copied elsewhere.
        11 if len > 0 => {
            let i = a as usize % len;
            let n = (1 + (b as usize >> 8) % 32).min(len - i);
            let copy: Vec<u8> = text[i..i + n].to_vec();
            let to = b as usize % (len + 1);
            text.splice(to..to, copy);
        }
        _ => {}
    }
}

/// `seed` with every edit of `edits` applied in order (see the module doc).
pub fn mutate(seed: &[u8], edits: &[(u8, u32, u32)]) -> Vec<u8> {
    let mut text = seed.to_vec();
    for &edit in edits {
        apply(&mut text, edit);
    }
    text
}

/// [`mutate`] for parsers of text: invalid UTF-8 the edits made is replaced by U+FFFD.
pub fn mutate_str(seed: &str, edits: &[(u8, u32, u32)]) -> String {
    String::from_utf8_lossy(&mutate(seed.as_bytes(), edits)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: &str =
        r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;

    #[test]
    fn number_edits_reach_decimal_strings_and_bare_numbers() {
        assert_eq!(
            mutate_str(FRAME, &[(4, 0, 0)]),
            r#"{"u":-1,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#
        );
        assert_eq!(
            mutate_str(FRAME, &[(4, 1, 12)]),
            r#"{"u":400900217,"s":"BNBUSDT","b":"NaN","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#
        );
    }

    #[test]
    fn structural_edits_drop_duplicate_and_nest() {
        assert_eq!(
            mutate_str(FRAME, &[(8, 1, 0)]),
            r#"{"u":400900217,"b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#
        );
        assert_eq!(mutate_str(FRAME, &[(8, 5, 0)]), mutate_str(FRAME, &[(8, 5, 0)]));
        assert!(mutate_str(FRAME, &[(8, 5, 0)]).ends_with(r#""a":"25.36520000"}"#));
        assert!(mutate_str(FRAME, &[(9, 0, 0)]).starts_with(r#"{"u":400900217,"u":400900217,"#));
        assert_eq!(mutate_str(r#"{"a":[1,2]}"#, &[(10, 2, 0)]), r#"{"a":[[1,2]]}"#);
        assert_eq!(mutate_str(r#"{"a":1}"#, &[(6, 0, 0)]), "null");
        assert_eq!(mutate_str(r#"{"a":1}"#, &[(6, 2, 15)]), r#"{"a":[]}"#);
    }

    #[test]
    fn raw_edits_stay_in_bounds() {
        for kind in 0..12u8 {
            for a in [0, 1, 7, u32::MAX] {
                for b in [0, 3, u32::MAX] {
                    let _ = mutate(b"", &[(kind, a, b)]);
                    let _ = mutate(FRAME.as_bytes(), &[(kind, a, b)]);
                }
            }
        }
        assert_eq!(mutate(b"abc", &[(3, 1, 0)]), b"a");
    }

    #[test]
    fn cases_default_without_the_variable() {
        if std::env::var_os(CASES_ENV).is_none() {
            assert_eq!(cases(17), 17);
        }
    }
}
