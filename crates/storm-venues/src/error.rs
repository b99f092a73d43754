//! What a failed venue call means for the caller, in words every venue shares: wait, fix, give
//! up, or find out.
//!
//! Each venue's folder turns its own replies (HTTP status, error codes, headers) into a
//! [`VenueError`] — Binance's in `binance::error::classify` — so that the engines decide on the
//! class of a failure, never on a venue's error code: an order whose outcome is unknown is
//! queried, a rate limit is waited out, a definite rejection ends the leg, a permanent one stops
//! the loop that keeps asking.

use std::time::Duration;

/// Why a venue definitely refused a request (it was not executed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Something about this request (balance, filters, a price off the book): sending the same
    /// request again will be refused again.
    Request,
    /// A matter of timing (a clock outside the venue's window, a momentary limit): the same
    /// request may pass when sent again.
    Timing,
    /// No request of the kind can pass until an operator acts: a revoked key, a missing
    /// permission, a symbol the venue does not know.
    Permanent,
}

/// A failed call to a venue, saying whether retrying can help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// Over the venue's request limit: stop sending for `retry_after`, or be banned.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// How long to stay quiet (the venue's `Retry-After` or reset, else its default).
        retry_after: Duration,
    },
    /// The IP is banned for continuing after a rate limit.
    #[error("IP banned, retry after {retry_after:?}")]
    Banned {
        /// Remaining ban.
        retry_after: Duration,
    },
    /// The venue definitely refused the request.
    #[error("rejected by venue: {code} {msg}")]
    Rejected {
        /// The venue's error code (Binance's are negative; 0 when the refusal is storm's own,
        /// e.g. the paper book's).
        code: i64,
        /// The venue's message, verbatim.
        msg: String,
        /// What the refusal means for the next request.
        refusal: Refusal,
    },
    /// The request may or may not have taken effect (timeout, HTTP 5xx, a venue's "unknown"
    /// code): for an order, query it by client order id before deciding to resend.
    #[error("outcome unknown: {reason}")]
    Unknown {
        /// What happened.
        reason: String,
    },
    /// The request could not be delivered (connect, TLS, DNS); nothing reached the venue.
    #[error("transport error: {0}")]
    Transport(String),
    /// A reply that could not be understood.
    #[error("unreadable venue reply: {0}")]
    Parse(String),
}

impl VenueError {
    /// A refusal of this request by storm itself (code 0), e.g. a paper order the book or the
    /// balance cannot take.
    pub fn refused(msg: impl Into<String>) -> Self {
        VenueError::Rejected { code: 0, msg: msg.into(), refusal: Refusal::Request }
    }

    /// True when sending the same request again (after [`VenueError::retry_after`], if any) can
    /// succeed: rate limits and bans once they expire, transport failures, unknown outcomes, and
    /// the rejections that are about timing rather than the request itself.
    ///
    /// For orders, check [`VenueError::outcome_unknown`] first: an unknown outcome must be
    /// resolved by querying the order, not by resending it blindly.
    pub fn is_retryable(&self) -> bool {
        match self {
            VenueError::RateLimited { .. } | VenueError::Banned { .. } => true,
            VenueError::Unknown { .. } | VenueError::Transport(_) => true,
            VenueError::Rejected { refusal, .. } => *refusal == Refusal::Timing,
            VenueError::Parse(_) => false,
        }
    }

    /// True when no request to this venue of the same kind can succeed until an operator acts:
    /// a revoked key or a missing permission, a symbol the venue does not know (delisted), or a
    /// reply that is not the API's at all (an HTML page from a proxy, a captive portal or a wrong
    /// URL). A loop that waits for an answer (an unknown order's query) stops on these at once.
    pub fn is_permanent(&self) -> bool {
        match self {
            VenueError::Rejected { refusal, .. } => *refusal == Refusal::Permanent,
            VenueError::Parse(_) => true,
            _ => false,
        }
    }

    /// True when the request may have been executed: the state must be queried, not assumed.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, VenueError::Unknown { .. })
    }

    /// How long to wait before the next request, when the venue said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            VenueError::RateLimited { retry_after } | VenueError::Banned { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}
