//! The language-model client: OpenAI-compatible chat completions (OpenRouter by default; any
//! base URL, so OpenAI, Ollama, llama.cpp's server and vLLM work too), with a request timeout,
//! retries with exponential backoff and jitter on timeouts, connection failures, 429 (honouring
//! `Retry-After`) and 5xx, no retry on authentication failures, and token usage and cost per
//! call; a grammar ([`Constraint`]) in the field of the server that takes one. [`extract_code`]
//! pulls a strategy out of a reply, [`extract_constrained`] out of a grammar-constrained one.

mod client;
mod extract;

pub use client::{
    Call, Client, Completion, Constraint, LlmConfig, Message, Server, Usage, DEFAULT_BASE_URL,
    DEFAULT_MODEL,
};
pub use extract::{extract_code, extract_constrained};

/// Why a chat completion failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// HTTP 401 or 403: the key is missing or wrong (never retried).
    #[error("the endpoint refused the API key (HTTP {status}): {body}; set OPENROUTER_API_KEY (or DSL_ENGINE_LLM_API_KEY / --api-key) to a valid key for {base_url}")]
    Auth {
        /// 401 or 403.
        status: u16,
        /// The reply body, cut to 300 characters.
        body: String,
        /// The endpoint that refused, to name in the message.
        base_url: String,
    },
    /// HTTP 429 on the last attempt (retried, honouring `Retry-After`, until the retries ran out).
    #[error("rate limited (HTTP 429) after {attempts} attempt(s): {body}; wait, lower the request rate or use another model")]
    RateLimited {
        /// Attempts made, the first included.
        attempts: u32,
        /// The reply body, cut to 300 characters.
        body: String,
    },
    /// HTTP 5xx on the last attempt (retried until the retries ran out).
    #[error("the endpoint failed (HTTP {status}) after {attempts} attempt(s): {body}")]
    Server {
        /// The 5xx status.
        status: u16,
        /// Attempts made, the first included.
        attempts: u32,
        /// The reply body, cut to 300 characters.
        body: String,
    },
    /// Another non-2xx status (400, 404, …): a bad model name or URL; never retried.
    #[error(
        "the endpoint rejected the request (HTTP {status}): {body}; check --model and --base-url"
    )]
    Request {
        /// The HTTP status.
        status: u16,
        /// The reply body, cut to 300 characters.
        body: String,
    },
    /// The last attempt got no full reply within the per-request timeout.
    #[error("no reply within {secs:.0}s after {attempts} attempt(s); raise --llm-timeout or check the endpoint")]
    Timeout {
        /// The per-request timeout ([`LlmConfig::timeout`]) in seconds.
        secs: f64,
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// The last attempt could not connect (DNS, refused connection, TLS, …).
    #[error("cannot reach {base_url} after {attempts} attempt(s): {message}")]
    Connect {
        /// The endpoint tried.
        base_url: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// The transport error with its causes.
        message: String,
    },
    /// A 2xx reply that is not a completion: not JSON, an `error` object or no `choices`;
    /// carries what was wrong and the start of the reply. Retried.
    #[error("the endpoint's reply is not a chat completion: {0}")]
    BadReply(String),
    /// The reply passed [`MAX_REPLY_BYTES`](client::MAX_REPLY_BYTES) and was not read further. Retried.
    #[error("the endpoint's reply is larger than {limit} bytes (a runaway reply); not read")]
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// A stop was requested (Ctrl-C, a stop file) while the call was in flight.
    #[error("cancelled")]
    Cancelled,
    /// The HTTP client could not be built (e.g. no TLS roots); carries the cause.
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
}

impl LlmError {
    /// Whether another attempt may succeed: timeouts, connection failures, 429, 5xx, and a
    /// 200 reply that is not a completion (an error object, no choices, cut or HTML), which is
    /// how OpenRouter reports a failed upstream.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. }
                | LlmError::Server { .. }
                | LlmError::Timeout { .. }
                | LlmError::Connect { .. }
                | LlmError::BadReply(_)
                | LlmError::TooLarge { .. }
        )
    }

    /// Whether the run cannot go on with this endpoint (bad key, bad model or URL).
    pub fn fatal(&self) -> bool {
        matches!(
            self,
            LlmError::Auth { .. } | LlmError::Request { .. } | LlmError::Setup(_)
        )
    }
}
