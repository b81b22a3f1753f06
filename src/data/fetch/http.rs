//! A polite HTTP client for one host: serial requests at least `interval` apart, retries with
//! jittered exponential backoff (a `Retry-After` is a floor), and typed failures. TWSE bans IPs
//! above ~3 requests per 5 s (`docs/data.md` §6.4); a ban shows up as refused or reset
//! connections, 403/429 answers or HTML error pages, all of which are retried here.

use std::time::{Duration, Instant};

use super::{FetchError, ParseError};
use crate::util::rng::Rng;

/// Request pacing and retry policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Minimum time between the starts of two requests to the host.
    pub interval: Duration,
    /// First retry delay; doubled per attempt, jittered to [½, 1] of the step.
    pub backoff: Duration,
    /// Longest delay between two attempts (also caps `Retry-After`).
    pub max_backoff: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for Policy {
    /// 4 s between requests (TWSE tolerates ~3 per 5 s), 10 s first backoff up to 5 min,
    /// 4 retries, 60 s timeout.
    fn default() -> Self {
        Policy {
            interval: Duration::from_secs(4),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(300),
            retries: 4,
            timeout: Duration::from_secs(60),
        }
    }
}

/// The client.
pub struct Http {
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
    policy: Policy,
    last: Option<Instant>,
    rng: Rng,
    /// Requests sent (including retries).
    pub requests: usize,
}

/// One failed attempt.
enum Attempt {
    Status { status: u16, body: String },
    Transport(String),
    ErrorPage(String),
}

impl Attempt {
    fn retryable(&self) -> bool {
        match self {
            Attempt::Status { status, .. } => matches!(status, 403 | 408 | 429 | 500..=599),
            Attempt::Transport(_) | Attempt::ErrorPage(_) => true,
        }
    }
}

impl Http {
    /// A client with `policy`.
    pub fn new(policy: Policy) -> Result<Http, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!(
                "dsl-engine/",
                env!("CARGO_PKG_VERSION"),
                " (daily-quote importer; one request per few seconds)"
            ))
            .build()
            .map_err(|e| FetchError::Setup(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| FetchError::Setup(e.to_string()))?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        Ok(Http {
            client,
            rt,
            policy,
            last: None,
            rng: Rng::new(seed, "fetch-backoff"),
            requests: 0,
        })
    }

    /// GETs `url` and reads the body with `read`, retrying transport errors, 403/408/429/5xx
    /// answers and bodies `read` calls an error page ([`ParseError::NotJson`]). Other
    /// `read` errors are returned at once.
    pub fn get<T>(
        &mut self,
        url: &str,
        read: impl Fn(&str) -> Result<T, ParseError>,
    ) -> Result<T, FetchError> {
        self.get_decoded(url, false, read)
    }

    /// [`Http::get`] for a page in cp950 (Big5 with Microsoft's extensions, MOPS) when `cp950`
    /// is set: the body is decoded before `read` sees it.
    pub fn get_decoded<T>(
        &mut self,
        url: &str,
        cp950: bool,
        read: impl Fn(&str) -> Result<T, ParseError>,
    ) -> Result<T, FetchError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.pace();
            let (result, retry_after) = self.once(url, cp950);
            let failure = match result {
                Ok(body) => match read(&body) {
                    Ok(v) => return Ok(v),
                    Err(ParseError::NotJson(snippet)) => Attempt::ErrorPage(snippet),
                    Err(e) => return Err(FetchError::Parse(e)),
                },
                Err(f) => f,
            };
            if !failure.retryable() || attempt > self.policy.retries {
                return Err(final_error(url, attempt, failure));
            }
            let wait = self.backoff(attempt, retry_after);
            std::thread::sleep(wait);
        }
    }

    /// Sleeps until `interval` has passed since the previous request started.
    fn pace(&mut self) {
        if let Some(last) = self.last {
            let due = last + self.policy.interval;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        self.last = Some(Instant::now());
    }

    fn backoff(&mut self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let step = self
            .policy
            .backoff
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.policy.max_backoff);
        let jittered = step.mul_f64(0.5 + 0.5 * self.rng.uniform());
        match retry_after {
            Some(r) => jittered.max(r.min(self.policy.max_backoff)),
            None => jittered,
        }
    }

    fn once(&mut self, url: &str, cp950: bool) -> (Result<String, Attempt>, Option<Duration>) {
        self.requests += 1;
        let client = &self.client;
        self.rt.block_on(async {
            let resp = match client.get(url).send().await {
                Ok(r) => r,
                Err(e) => return (Err(Attempt::Transport(format!("{e:#}"))), None),
            };
            let status = resp.status().as_u16();
            let retry_after = crate::net::retry_after(resp.headers());
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => return (Err(Attempt::Transport(format!("{e:#}"))), retry_after),
            };
            // JSON feeds are UTF-8 (a stray BOM is tolerated; anything else is shown lossily
            // in the error); MOPS pages are cp950, decoded as WHATWG Big5 (its superset).
            let text = if cp950 {
                encoding_rs::BIG5.decode(&bytes).0.into_owned()
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            };
            let text = text.trim_start_matches('\u{feff}').to_string();
            if (200..300).contains(&status) {
                (Ok(text), retry_after)
            } else {
                (
                    Err(Attempt::Status {
                        status,
                        body: clip(&text),
                    }),
                    retry_after,
                )
            }
        })
    }
}

fn final_error(url: &str, attempts: u32, failure: Attempt) -> FetchError {
    let url = url.to_string();
    match failure {
        Attempt::Status { status, body } if matches!(status, 403 | 429) => {
            FetchError::RateLimited {
                url,
                status,
                attempts,
                body,
            }
        }
        Attempt::Status { status, body } => FetchError::Http {
            url,
            status,
            attempts,
            body,
        },
        Attempt::Transport(message) => FetchError::Connect {
            url,
            attempts,
            message,
        },
        Attempt::ErrorPage(snippet) => FetchError::ErrorPage {
            url,
            attempts,
            snippet,
        },
    }
}

/// The first 200 characters of a body, on one line.
pub(super) fn clip(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    one_line.trim().to_string()
}
