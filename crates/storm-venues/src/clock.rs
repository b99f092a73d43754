//! Where each venue tells its time, for a check of the local clock (`stormctl doctor`): signed
//! requests carry a timestamp the venue refuses outside its window, so a skewed clock refuses
//! every order.

use storm_core::VenueKind;

/// The unsigned endpoint of `kind` at `rest_url` that answers with the venue's time.
pub fn time_url(kind: VenueKind, rest_url: &str) -> String {
    match kind {
        VenueKind::Binance => format!("{}{}", rest_url.trim_end_matches('/'), crate::binance::rest_wire::TIME_PATH),
    }
}

/// The venue's time, ms, from the reply of [`time_url`]; `None` when the reply does not carry it.
pub fn parse_time(kind: VenueKind, body: &serde_json::Value) -> Option<u64> {
    match kind {
        VenueKind::Binance => body.get("serverTime").and_then(serde_json::Value::as_u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_time_is_read_from_server_time() {
        assert_eq!(time_url(VenueKind::Binance, "http://h:1/"), "http://h:1/api/v3/time");
        assert_eq!(
            parse_time(VenueKind::Binance, &serde_json::json!({"serverTime": 1_700_000_000_000u64})),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_time(VenueKind::Binance, &serde_json::json!({"time": 1})), None);
    }
}
