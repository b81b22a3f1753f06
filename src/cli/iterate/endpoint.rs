//! The model endpoint of `iterate` and `doctor`: flags, then environment, then a resumed
//! run's settings, then defaults.

// The flags' doc comments are clap's `--help` text, written for a terminal, not for rustdoc.
#![allow(rustdoc::bare_urls)]

use std::time::Duration;

use crate::iterate::config::{RunConfig, DEFAULT_TEMPERATURE};
use crate::llm::{LlmConfig, DEFAULT_BASE_URL, DEFAULT_MODEL};

/// Options shared by `iterate` and `doctor` for the model endpoint.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LlmArgs {
    /// Model name [env: DSL_ENGINE_LLM_MODEL] [default: openai/gpt-4o-mini].
    #[arg(long)]
    pub model: Option<String>,
    /// OpenAI-compatible base URL, e.g. http://localhost:11434/v1 for Ollama
    /// [env: DSL_ENGINE_LLM_BASE_URL] [default: https://openrouter.ai/api/v1].
    #[arg(long)]
    pub base_url: Option<String>,
    /// API key [env: DSL_ENGINE_LLM_API_KEY, then OPENROUTER_API_KEY].
    #[arg(long)]
    pub api_key: Option<String>,
    /// Sampling temperature, 0 to 2 [default: 0.3].
    #[arg(long, value_parser = crate::cli::flags::temperature)]
    pub temperature: Option<f64>,
    /// Timeout of one model request, in seconds (at most a day).
    #[arg(long, default_value_t = 120.0, value_parser = crate::cli::flags::seconds)]
    pub llm_timeout: f64,
    /// Retries of a model request after a timeout, connection failure, 429 or 5xx.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,
    /// First retry backoff in seconds (doubles per retry, with jitter; at most a day).
    #[arg(long, default_value_t = 1.0, value_parser = crate::cli::flags::seconds)]
    pub backoff: f64,
    /// USD per million prompt and completion tokens, for endpoints that report no cost,
    /// e.g. `--price 0.15,0.60`.
    #[arg(long, value_parser = parse_price)]
    pub price: Option<(f64, f64)>,
}

fn parse_price(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or("expected INPUT,OUTPUT in USD per million tokens")?;
    let p = |x: &str| {
        x.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or(format!("`{x}` is not a price"))
    };
    Ok((p(a)?, p(b)?))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The endpoint configuration and where its key came from.
pub struct Endpoint {
    pub cfg: LlmConfig,
    pub key_source: Option<&'static str>,
    /// A base URL was given explicitly (a local server needs no key).
    pub explicit_url: bool,
}

impl LlmArgs {
    /// The model asked for by flag or environment, if any.
    pub(super) fn explicit_model(&self) -> Option<String> {
        self.model.clone().or_else(|| env("DSL_ENGINE_LLM_MODEL"))
    }

    /// The base URL asked for by flag or environment, if any.
    pub(super) fn explicit_url(&self) -> Option<String> {
        self.base_url
            .clone()
            .or_else(|| env("DSL_ENGINE_LLM_BASE_URL"))
    }

    /// Flags, then environment, then `saved` (a resumed run's settings), then defaults.
    pub fn endpoint(&self, saved: Option<&RunConfig>) -> anyhow::Result<Endpoint> {
        let (key, key_source) = match (
            &self.api_key,
            env("DSL_ENGINE_LLM_API_KEY"),
            env("OPENROUTER_API_KEY"),
        ) {
            (Some(k), _, _) => (Some(k.clone()), Some("--api-key")),
            (None, Some(k), _) => (Some(k), Some("DSL_ENGINE_LLM_API_KEY")),
            (None, None, Some(k)) => (Some(k), Some("OPENROUTER_API_KEY")),
            _ => (None, None),
        };
        let url = self
            .explicit_url()
            .or_else(|| saved.and_then(|s| s.base_url.clone()));
        let explicit_url = url.is_some();
        Ok(Endpoint {
            cfg: LlmConfig {
                base_url: url.unwrap_or_else(|| DEFAULT_BASE_URL.into()),
                model: self
                    .explicit_model()
                    .or_else(|| saved.and_then(|s| s.model.clone()))
                    .unwrap_or_else(|| DEFAULT_MODEL.into()),
                api_key: key,
                temperature: self
                    .temperature
                    .or_else(|| saved.and_then(|s| s.temperature))
                    .unwrap_or(DEFAULT_TEMPERATURE),
                timeout: Duration::from_secs_f64(self.llm_timeout),
                max_retries: self.retries,
                backoff: Duration::from_secs_f64(self.backoff),
                price_per_mtok: self.price,
                ..LlmConfig::default()
            },
            key_source,
            explicit_url,
        })
    }
}
