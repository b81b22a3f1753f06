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
    #[error("the endpoint refused the API key (HTTP {status}): {body}; set OPENROUTER_API_KEY (or DSL_ENGINE_LLM_API_KEY / --api-key) to a valid key for {base_url}")]
    Auth {
        status: u16,
        body: String,
        base_url: String,
    },
    #[error("rate limited (HTTP 429) after {attempts} attempt(s): {body}; wait, lower the request rate or use another model")]
    RateLimited { attempts: u32, body: String },
    #[error("the endpoint failed (HTTP {status}) after {attempts} attempt(s): {body}")]
    Server {
        status: u16,
        attempts: u32,
        body: String,
    },
    #[error(
        "the endpoint rejected the request (HTTP {status}): {body}; check --model and --base-url"
    )]
    Request { status: u16, body: String },
    #[error("no reply within {secs:.0}s after {attempts} attempt(s); raise --llm-timeout or check the endpoint")]
    Timeout { secs: f64, attempts: u32 },
    #[error("cannot reach {base_url} after {attempts} attempt(s): {message}")]
    Connect {
        base_url: String,
        attempts: u32,
        message: String,
    },
    #[error("the endpoint's reply is not a chat completion: {0}")]
    BadReply(String),
    #[error("the endpoint's reply is larger than {limit} bytes (a runaway reply); not read")]
    TooLarge { limit: usize },
    #[error("cancelled")]
    Cancelled,
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
