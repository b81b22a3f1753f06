//! Small HTTP helpers shared by the model client (`llm`) and the market-data fetch.

use std::time::{Duration, SystemTime};

/// The longest `Retry-After` taken from a server, whatever it asks for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A response's `Retry-After`: a number of seconds or an HTTP date (RFC 9110 §10.2.3), capped
/// at [`MAX_RETRY_AFTER`] before it becomes a `Duration` (so `1e20` is an hour, not a panic).
/// A date in the past is zero; anything else unreadable is ignored (the caller's own backoff
/// applies).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    parse_retry_after(value, SystemTime::now())
}

fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return None;
        }
        return Some(Duration::from_secs_f64(
            secs.min(MAX_RETRY_AFTER.as_secs_f64()),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date_and_never_overflows() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        let p = |v| parse_retry_after(v, now);
        assert_eq!(p("3"), Some(Duration::from_secs(3)));
        assert_eq!(p("1e20"), Some(MAX_RETRY_AFTER));
        assert_eq!(p("inf"), Some(MAX_RETRY_AFTER));
        assert_eq!(p("-1"), None);
        assert_eq!(p("NaN"), None);
        assert_eq!(
            p("Wed, 21 Oct 2026 07:28:30 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(p("Wed, 21 Oct 2026 07:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(p("Fri, 31 Dec 9999 23:59:59 GMT"), Some(MAX_RETRY_AFTER));
        assert_eq!(p("soon"), None);
    }
}
