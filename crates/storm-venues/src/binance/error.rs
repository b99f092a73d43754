//! Binance's failures in storm's words ([`crate::error`]): wait, fix, give up, or find out.
//!
//! [`classify`] turns a Binance REST reply (status, body, `Retry-After`) into a [`VenueError`]
//! following BINANCE.md: 429 is a rate limit, 418 an IP ban, 5xx and `-1007` leave the outcome
//! **unknown** (the order may exist: query it before resending), anything else with a
//! `{"code":..,"msg":..}` body is a definite rejection. Among failures that retrying cannot cure,
//! [`PERMANENT_CODES`] ([`Refusal::Permanent`]) name those no request of the kind can get past until an operator
//! acts (a revoked key, a delisted symbol, replies that are not the API's).

use std::time::Duration;

use super::wire::ApiError;
pub use crate::error::{Refusal, VenueError};

/// Wait assumed after HTTP 429 when the reply has no `Retry-After`: the weight window is 1 minute.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Wait assumed after HTTP 418 when the reply has no `Retry-After`: the shortest ban is 2 minutes.
pub const DEFAULT_BAN_WAIT: Duration = Duration::from_secs(120);

/// How many characters of an unreadable body are kept in an error message.
const BODY_EXCERPT_CHARS: usize = 200;

/// Binance error code: too many requests.
pub const CODE_TOO_MANY_REQUESTS: i64 = -1003;
/// Binance error code: timeout waiting for the backend; the outcome is unknown.
pub const CODE_TIMEOUT_UNKNOWN: i64 = -1007;
/// Binance error code: `timestamp` outside `recvWindow` (resynchronise the clock, then resend).
pub const CODE_TIMESTAMP_OUTSIDE_WINDOW: i64 = -1021;

/// Binance error codes that no retry can cure: the key, its permissions or the symbol are wrong
/// until an operator acts (-1002 unauthorized, -1022 invalid signature, -1121 invalid symbol,
/// -2008 invalid key id, -2014 key format invalid, -2015 invalid key, IP or permissions).
pub const PERMANENT_CODES: [i64; 6] = [-1002, -1022, -1121, -2008, -2014, -2015];

/// A definite Binance rejection, classified by its code: timing codes (`-1003`, `-1021`) may pass
/// when sent again, [`PERMANENT_CODES`] not until an operator acts, the rest are about the
/// request itself.
pub fn rejected(code: i64, msg: String) -> VenueError {
    let refusal = if matches!(code, CODE_TOO_MANY_REQUESTS | CODE_TIMESTAMP_OUTSIDE_WINDOW) {
        Refusal::Timing
    } else if PERMANENT_CODES.contains(&code) {
        Refusal::Permanent
    } else {
        Refusal::Request
    };
    VenueError::Rejected { code, msg, refusal }
}

/// Classifies a non-success Binance REST reply.
///
/// `retry_after` is the parsed `Retry-After` header (seconds), when present. Order of rules:
/// 429 → [`VenueError::RateLimited`]; 418 → [`VenueError::Banned`]; 5xx →
/// [`VenueError::Unknown`]; otherwise the `{"code","msg"}` body decides: `-1007` →
/// `Unknown`, `-1003` → `RateLimited`, any other code → [`VenueError::Rejected`]. A body that is
/// not a Binance error gives [`VenueError::Parse`].
pub fn classify(http_status: u16, body: &str, retry_after: Option<Duration>) -> VenueError {
    match http_status {
        429 => return VenueError::RateLimited { retry_after: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT) },
        418 => return VenueError::Banned { retry_after: retry_after.unwrap_or(DEFAULT_BAN_WAIT) },
        500..=599 => return VenueError::Unknown { reason: format!("HTTP {http_status}: {}", excerpt(body)) },
        _ => {}
    }
    match serde_json::from_str::<ApiError>(body) {
        Ok(ApiError { code: CODE_TIMEOUT_UNKNOWN, msg }) => {
            VenueError::Unknown { reason: format!("HTTP {http_status}: {CODE_TIMEOUT_UNKNOWN} {msg}") }
        }
        Ok(ApiError { code: CODE_TOO_MANY_REQUESTS, .. }) => {
            VenueError::RateLimited { retry_after: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT) }
        }
        Ok(ApiError { code, msg }) => rejected(code, msg),
        Err(e) => VenueError::Parse(format!("HTTP {http_status}, not a Binance error body ({e}): {}", excerpt(body))),
    }
}

/// The start of `body`, cut on a character boundary.
fn excerpt(body: &str) -> String {
    let mut chars = body.chars();
    let mut out: String = chars.by_ref().take(BODY_EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECS_7: Option<Duration> = Some(Duration::from_secs(7));

    struct Case {
        name: &'static str,
        status: u16,
        body: &'static str,
        retry_after: Option<Duration>,
        expect: fn(&VenueError) -> bool,
        retryable: bool,
        unknown: bool,
    }

    #[test]
    fn classify_follows_binance_rules() {
        let cases = [
            Case {
                name: "429 is a rate limit with the header's wait",
                status: 429,
                body: r#"{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE."}"#,
                retry_after: SECS_7,
                expect: |e| *e == VenueError::RateLimited { retry_after: Duration::from_secs(7) },
                retryable: true,
                unknown: false,
            },
            Case {
                name: "429 without Retry-After waits a full window",
                status: 429,
                body: "",
                retry_after: None,
                expect: |e| *e == VenueError::RateLimited { retry_after: DEFAULT_RATE_LIMIT_WAIT },
                retryable: true,
                unknown: false,
            },
            Case {
                name: "418 is a ban",
                status: 418,
                body: r#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1723161255342."}"#,
                retry_after: Some(Duration::from_secs(300)),
                expect: |e| *e == VenueError::Banned { retry_after: Duration::from_secs(300) },
                retryable: true,
                unknown: false,
            },
            Case {
                name: "418 without Retry-After waits the shortest ban",
                status: 418,
                body: "",
                retry_after: None,
                expect: |e| *e == VenueError::Banned { retry_after: DEFAULT_BAN_WAIT },
                retryable: true,
                unknown: false,
            },
            Case {
                name: "502 leaves the outcome unknown",
                status: 502,
                body: "<html>Bad Gateway</html>",
                retry_after: None,
                expect: |e| matches!(e, VenueError::Unknown { reason } if reason.contains("502")),
                retryable: true,
                unknown: true,
            },
            Case {
                name: "503 with a JSON body is still unknown",
                status: 503,
                body: r#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#,
                retry_after: None,
                expect: |e| matches!(e, VenueError::Unknown { .. }),
                retryable: true,
                unknown: true,
            },
            Case {
                name: "-1021 is a rejection worth retrying after a clock resync",
                status: 400,
                body: r#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#,
                retry_after: None,
                expect: |e| matches!(e, VenueError::Rejected { code: -1021, .. }),
                retryable: true,
                unknown: false,
            },
            Case {
                name: "-2010 is a final rejection with the message kept",
                status: 400,
                body: r#"{"code":-2010,"msg":"Account has insufficient balance for requested action."}"#,
                retry_after: None,
                expect: |e| {
                    *e == VenueError::Rejected {
                        code: -2010,
                        msg: "Account has insufficient balance for requested action.".into(),
                        refusal: Refusal::Request,
                    }
                },
                retryable: false,
                unknown: false,
            },
            Case {
                name: "-1007 leaves the outcome unknown",
                status: 408,
                body: r#"{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}"#,
                retry_after: None,
                expect: |e| matches!(e, VenueError::Unknown { reason } if reason.contains("-1007")),
                retryable: true,
                unknown: true,
            },
            Case {
                name: "garbage body is a parse error, not a panic",
                status: 403,
                body: "<html><body>403 Forbidden \u{1F6AB}</body></html>",
                retry_after: None,
                expect: |e| matches!(e, VenueError::Parse(m) if m.contains("403")),
                retryable: false,
                unknown: false,
            },
            Case {
                name: "truncated JSON body is a parse error",
                status: 400,
                body: r#"{"code":-2010,"msg":"Acc"#,
                retry_after: None,
                expect: |e| matches!(e, VenueError::Parse(_)),
                retryable: false,
                unknown: false,
            },
        ];
        for case in cases {
            let err = classify(case.status, case.body, case.retry_after);
            assert!((case.expect)(&err), "{}: got {err:?}", case.name);
            assert_eq!(err.is_retryable(), case.retryable, "{}: is_retryable of {err:?}", case.name);
            assert_eq!(err.outcome_unknown(), case.unknown, "{}: outcome_unknown of {err:?}", case.name);
        }
    }

    #[test]
    fn permanent_errors_are_told_apart_from_retryable_and_unknown_ones() {
        let revoked = r#"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}"#;
        let delisted = r#"{"code":-1121,"msg":"Invalid symbol."}"#;
        let cases = [
            ("revoked key", classify(401, revoked, None), true),
            ("delisted symbol", classify(400, delisted, None), true),
            ("an HTML page with 200", VenueError::Parse("order: expected value at line 1 column 1".into()), true),
            ("an HTML page with 403", classify(403, "<html>Forbidden</html>", None), true),
            ("an HTML page with 502 may be transient", classify(502, "<html>Bad Gateway</html>", None), false),
            ("insufficient balance is this order's", classify(400, r#"{"code":-2010,"msg":"x"}"#, None), false),
            ("a clock out of the window", classify(400, r#"{"code":-1021,"msg":"x"}"#, None), false),
            ("a rate limit", classify(429, "", None), false),
            ("a transport error", VenueError::Transport("refused".into()), false),
        ];
        for (name, err, permanent) in cases {
            assert_eq!(err.is_permanent(), permanent, "{name}: {err:?}");
            assert!(!(err.is_permanent() && err.is_retryable()), "{name}: permanent and retryable");
            assert!(!(err.is_permanent() && err.outcome_unknown()), "{name}: permanent and unknown");
        }
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(1_000);
        let VenueError::Unknown { reason } = classify(500, &body, None) else { panic!("500 must be unknown") };
        assert!(reason.chars().count() < 250, "{}", reason.len());
    }
}
