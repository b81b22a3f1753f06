//! One OpenAI-compatible `/chat/completions` call with retries.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::LlmError;
use crate::dsl::grammar::Format;
use crate::util::rng::Rng;

/// OpenRouter's OpenAI-compatible API.
pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";
/// A cheap, capable model that OpenRouter serves.
pub const DEFAULT_MODEL: &str = "openai/gpt-4o-mini";

/// Longest wait honoured from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// Longest error body kept in messages and the ledger.
const BODY_CHARS: usize = 300;
/// Largest reply body read; a strategy is at most 64 KiB, so anything near this is a runaway
/// reply, refused (and retried) rather than read whole.
pub const MAX_REPLY_BYTES: usize = 1 << 20;

/// Where and how to call the model.
#[derive(Clone, Debug)]
pub struct LlmConfig {
    /// Base URL without `/chat/completions`, e.g. `http://localhost:11434/v1` for Ollama.
    pub base_url: String,
    /// Model id as the endpoint names it, e.g. `openai/gpt-4o-mini` on OpenRouter.
    pub model: String,
    /// Sent as `Authorization: Bearer`; local servers need none.
    pub api_key: Option<String>,
    /// Sampling temperature sent with each request (0 = most deterministic; default 0.3).
    pub temperature: f64,
    /// Per-request timeout (connect + reply).
    pub timeout: Duration,
    /// Retries after the first attempt (timeouts, connection failures, 429, 5xx).
    pub max_retries: u32,
    /// First backoff; doubles per retry, with jitter, up to `max_backoff`.
    pub backoff: Duration,
    /// Ceiling of one backoff step (a longer `Retry-After`, up to 120 s, still wins).
    pub max_backoff: Duration,
    /// USD per million prompt / completion tokens, for endpoints that do not report cost.
    pub price_per_mtok: Option<(f64, f64)>,
    /// Cap on the reply length.
    pub max_tokens: Option<u32>,
    /// The grammar every reply is constrained by, when the endpoint takes one.
    pub grammar: Option<Constraint>,
}

/// A grammar sent with each request: GBNF in llama.cpp's `grammar` field, Lark in vLLM's
/// `structured_outputs.grammar` (and its older `guided_grammar`, which vLLM before 0.10.2
/// reads; each version ignores the field it does not know).
#[derive(Clone, Debug)]
pub struct Constraint {
    /// The grammar's syntax, which picks the request field.
    pub format: Format,
    /// The grammar text.
    pub text: std::sync::Arc<str>,
}

impl Constraint {
    /// Adds the grammar to a request body.
    fn apply(&self, body: &mut Value) {
        let text = json!(&*self.text);
        match self.format {
            Format::Gbnf => body["grammar"] = text,
            Format::Lark => {
                body["structured_outputs"] = json!({ "grammar": text.clone() });
                body["guided_grammar"] = text;
            }
        }
    }
}

/// A server whose grammar field the client knows, as its model list names it (`owned_by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// llama.cpp's `llama-server` (`"owned_by": "llamacpp"`): GBNF.
    LlamaCpp,
    /// vLLM (`"owned_by": "vllm"`): Lark.
    Vllm,
}

impl Server {
    /// The grammar syntax the server takes.
    pub fn format(self) -> Format {
        match self {
            Server::LlamaCpp => Format::Gbnf,
            Server::Vllm => Format::Lark,
        }
    }

    /// The server's name for messages, e.g. `vLLM`.
    pub fn name(self) -> &'static str {
        match self {
            Server::LlamaCpp => "llama.cpp server",
            Server::Vllm => "vLLM",
        }
    }
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: DEFAULT_BASE_URL.into(),
            model: DEFAULT_MODEL.into(),
            api_key: None,
            temperature: 0.3,
            timeout: Duration::from_secs(120),
            max_retries: 4,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            price_per_mtok: None,
            max_tokens: None,
            grammar: None,
        }
    }
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The message text.
    pub content: String,
}

impl Message {
    /// Instructions that frame the conversation.
    pub fn system(text: impl Into<String>) -> Message {
        Message {
            role: "system".into(),
            content: text.into(),
        }
    }
    /// A turn from the user (the research loop's prompt or feedback).
    pub fn user(text: impl Into<String>) -> Message {
        Message {
            role: "user".into(),
            content: text.into(),
        }
    }
    /// A previous reply of the model, kept in the history.
    pub fn assistant(text: impl Into<String>) -> Message {
        Message {
            role: "assistant".into(),
            content: text.into(),
        }
    }
}

/// Token counts of one call (0 when the endpoint does not report them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the messages sent.
    pub prompt_tokens: u64,
    /// Tokens of the reply.
    pub completion_tokens: u64,
}

impl Usage {
    /// Adds another call's counts.
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// A successful reply.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The reply text (empty when the endpoint sent a null `content`, e.g. a refusal).
    pub content: String,
    /// The model the endpoint says answered.
    pub model: String,
    /// Tokens the endpoint reports for the call.
    pub usage: Usage,
    /// USD, as reported by the endpoint (OpenRouter) or computed from `price_per_mtok`.
    pub cost: Option<f64>,
}

/// A call with its attempts: the reply or the final error, and what happened on the way.
#[derive(Debug)]
pub struct Call {
    /// The reply of the successful attempt, or the error of the last one.
    pub result: Result<Completion, LlmError>,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// One line per failed attempt that was retried ("HTTP 429, waited 1.2s").
    pub retries: Vec<String>,
    /// Wall time of all attempts and the waits between them.
    pub elapsed: Duration,
}

/// An HTTP client for one endpoint.
pub struct Client {
    http: reqwest::Client,
    cfg: LlmConfig,
}

/// A failed attempt: the error and the server's `Retry-After`, if any.
struct Failure {
    error: LlmError,
    retry_after: Option<Duration>,
}

impl Client {
    /// A client for `cfg` (TLS via rustls).
    pub fn new(cfg: LlmConfig) -> Result<Client, LlmError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("dsl-engine/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Setup(e.to_string()))?;
        Ok(Client { http, cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.cfg
    }

    fn url(&self) -> String {
        format!(
            "{}/chat/completions",
            self.cfg.base_url.trim_end_matches('/')
        )
    }

    /// What serves the endpoint, from one `GET {base_url}/models` (its entries' `owned_by`);
    /// `None` when the list names neither llama.cpp nor vLLM. OpenRouter is not asked: it
    /// serves neither grammar field.
    pub async fn detect_server(&self) -> Result<Option<Server>, LlmError> {
        if self.cfg.base_url.contains("openrouter.ai") {
            return Ok(None);
        }
        let url = format!("{}/models", self.cfg.base_url.trim_end_matches('/'));
        let mut req = self
            .http
            .get(url)
            .timeout(self.cfg.timeout.min(Duration::from_secs(10)));
        if let Some(key) = &self.cfg.api_key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(&e, 1))?;
        if !resp.status().is_success() {
            return Ok(None);
        }
        let text = match read_capped(resp).await {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => return Ok(None),
            Err(e) => return Err(self.transport_error(&e, 1)),
        };
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let owners = v
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("owned_by").and_then(Value::as_str));
        let mut found = None;
        for owner in owners {
            match owner.to_ascii_lowercase().as_str() {
                "llamacpp" | "llama.cpp" => found = Some(Server::LlamaCpp),
                "vllm" => found = Some(Server::Vllm),
                _ => {}
            }
        }
        Ok(found)
    }

    /// Sends `messages`, retrying what may succeed on another attempt.
    pub async fn chat(&self, messages: &[Message]) -> Call {
        let start = Instant::now();
        let mut retries = Vec::new();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        let mut rng = Rng::new(seed, "llm-backoff");
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.once(messages, attempt).await {
                Ok(c) => {
                    return Call {
                        result: Ok(c),
                        attempts: attempt,
                        retries,
                        elapsed: start.elapsed(),
                    }
                }
                Err(f) if f.error.retryable() && attempt <= self.cfg.max_retries => {
                    let wait = self.backoff(attempt, f.retry_after, &mut rng);
                    retries.push(format!(
                        "attempt {attempt}: {}; retried after {:.1}s",
                        short(&f.error),
                        wait.as_secs_f64()
                    ));
                    tokio::time::sleep(wait).await;
                }
                Err(f) => {
                    return Call {
                        result: Err(f.error),
                        attempts: attempt,
                        retries,
                        elapsed: start.elapsed(),
                    }
                }
            }
        }
    }

    /// Exponential backoff with full jitter in [½, 1] of the step; a `Retry-After` is a floor.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>, rng: &mut Rng) -> Duration {
        let step = self
            .cfg
            .backoff
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.cfg.max_backoff);
        let jittered = step.mul_f64(0.5 + 0.5 * rng.uniform());
        match retry_after {
            Some(r) => jittered.max(r.min(MAX_RETRY_AFTER)),
            None => jittered,
        }
    }

    async fn once(&self, messages: &[Message], attempt: u32) -> Result<Completion, Failure> {
        let mut body = json!({
            "model": self.cfg.model,
            "messages": messages,
            "temperature": self.cfg.temperature,
        });
        if let Some(m) = self.cfg.max_tokens {
            body["max_tokens"] = json!(m);
        }
        if self.cfg.base_url.contains("openrouter.ai") {
            // OpenRouter reports the call's cost in `usage.cost` when asked.
            body["usage"] = json!({ "include": true });
        }
        if let Some(g) = &self.cfg.grammar {
            g.apply(&mut body);
        }
        let mut req = self.http.post(self.url()).json(&body);
        if let Some(key) = &self.cfg.api_key {
            req = req.bearer_auth(key);
        }
        let fail = |error| Failure {
            error,
            retry_after: None,
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(fail(self.transport_error(&e, attempt))),
        };
        let status = resp.status().as_u16();
        let retry_after = crate::net::retry_after(resp.headers());
        let text = match read_capped(resp).await {
            Ok(Ok(t)) => t,
            Ok(Err(error)) => return Err(fail(error)),
            Err(e) => return Err(fail(self.transport_error(&e, attempt))),
        };
        let body = clip(&text);
        let error = match status {
            200..=299 => return self.parse(&text).map_err(fail),
            401 | 403 => LlmError::Auth {
                status,
                body,
                base_url: self.cfg.base_url.clone(),
            },
            429 => LlmError::RateLimited {
                attempts: attempt,
                body,
            },
            500..=599 => LlmError::Server {
                status,
                attempts: attempt,
                body,
            },
            _ => LlmError::Request { status, body },
        };
        Err(Failure { error, retry_after })
    }

    fn transport_error(&self, e: &reqwest::Error, attempt: u32) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout {
                secs: self.cfg.timeout.as_secs_f64(),
                attempts: attempt,
            }
        } else {
            LlmError::Connect {
                base_url: self.cfg.base_url.clone(),
                attempts: attempt,
                message: format!("{e:#}"),
            }
        }
    }

    fn parse(&self, text: &str) -> Result<Completion, LlmError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| LlmError::BadReply(format!("{e}: {}", clip(text))))?;
        if let Some(err) = v.get("error") {
            // Some gateways answer 200 with an error object.
            return Err(LlmError::BadReply(clip(&err.to_string())));
        }
        let choice = v
            .get("choices")
            .and_then(|c| c.get(0))
            .ok_or_else(|| LlmError::BadReply(format!("no `choices`: {}", clip(text))))?;
        // `content` may be null (e.g. a refusal or a reasoning-only reply): an empty reply.
        let content = choice
            .pointer("/message/content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let tokens = |k: &str| v.pointer(&format!("/usage/{k}")).and_then(Value::as_u64);
        let usage = Usage {
            prompt_tokens: tokens("prompt_tokens").unwrap_or(0),
            completion_tokens: tokens("completion_tokens").unwrap_or(0),
        };
        let reported = v.pointer("/usage/cost").and_then(Value::as_f64);
        let computed = self.cfg.price_per_mtok.map(|(pin, pout)| {
            (usage.prompt_tokens as f64 * pin + usage.completion_tokens as f64 * pout) / 1e6
        });
        Ok(Completion {
            content,
            model: v
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(&self.cfg.model)
                .to_string(),
            usage,
            cost: reported.or(computed),
        })
    }
}

/// The reply body, refused once it passes [`MAX_REPLY_BYTES`] (the rest is never read).
async fn read_capped(
    mut resp: reqwest::Response,
) -> Result<Result<String, LlmError>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Ok(Err(LlmError::TooLarge {
                limit: MAX_REPLY_BYTES,
            }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(String::from_utf8_lossy(&body).into_owned()))
}

/// The first line of an error, for retry notes.
fn short(e: &LlmError) -> String {
    match e {
        LlmError::RateLimited { .. } => "HTTP 429".into(),
        LlmError::Server { status, .. } => format!("HTTP {status}"),
        LlmError::Timeout { secs, .. } => format!("no reply within {secs:.1}s"),
        other => other.to_string(),
    }
}

/// A reply body cut to [`BODY_CHARS`] characters.
fn clip(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() <= BODY_CHARS {
        return t.to_string();
    }
    let cut: String = t.chars().take(BODY_CHARS).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_respects_retry_after() {
        let c = Client::new(LlmConfig {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..LlmConfig::default()
        })
        .unwrap();
        let mut rng = Rng::new(1, "t");
        for (attempt, step) in [(1, 100), (2, 200), (3, 350), (9, 350)] {
            let w = c.backoff(attempt, None, &mut rng).as_millis() as u64;
            assert!(w >= step / 2 && w <= step, "attempt {attempt}: {w} ms");
        }
        let w = c.backoff(1, Some(Duration::from_secs(3)), &mut rng);
        assert_eq!(w, Duration::from_secs(3));
        let w = c.backoff(1, Some(Duration::from_secs(100_000)), &mut rng);
        assert_eq!(w, MAX_RETRY_AFTER);
    }

    #[test]
    fn the_grammar_goes_in_each_servers_field() {
        let body = |format| {
            let mut b = json!({ "model": "m" });
            Constraint {
                format,
                text: "root ::= \"x\"".into(),
            }
            .apply(&mut b);
            b
        };
        let g = body(Format::Gbnf);
        assert_eq!(g["grammar"], "root ::= \"x\"");
        assert!(g.get("structured_outputs").is_none());
        let l = body(Format::Lark);
        assert_eq!(l["structured_outputs"]["grammar"], "root ::= \"x\"");
        assert_eq!(l["guided_grammar"], "root ::= \"x\"");
        assert!(l.get("grammar").is_none());
    }

    #[test]
    fn parses_usage_cost_and_null_content() {
        let c = Client::new(LlmConfig {
            price_per_mtok: Some((1.0, 2.0)),
            ..LlmConfig::default()
        })
        .unwrap();
        let r = c
            .parse(r#"{"model":"m","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1000,"completion_tokens":500}}"#)
            .unwrap();
        assert_eq!(r.content, "hi");
        assert_eq!(r.usage.prompt_tokens, 1000);
        assert!((r.cost.unwrap() - 0.002).abs() < 1e-12);
        let r = c
            .parse(r#"{"choices":[{"message":{"content":null}}],"usage":{"cost":0.5}}"#)
            .unwrap();
        assert_eq!(r.content, "");
        assert_eq!(r.cost, Some(0.5));
        assert!(c.parse("not json").is_err());
        assert!(c.parse(r#"{"error":{"message":"boom"}}"#).is_err());
        assert!(c.parse(r#"{"choices":[]}"#).is_err());
    }
}
