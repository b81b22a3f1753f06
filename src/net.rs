//! Small HTTP helpers shared by the model client (`llm`) and the market-data fetch.

use std::time::Duration;

/// A response's `Retry-After`, when it is a number of seconds (the HTTP-date form is ignored:
/// the caller's own backoff applies then).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}
