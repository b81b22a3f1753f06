//! The feeds `data fetch` reads (`docs/data.md` §6.2): each one's host, request path, first
//! date, schedule (one request per session, per month, or per published month) and parser.

use super::{actions, daily, revenue, tpex, twse, ParseError, Parsed};
use crate::calendar::{civil_from_days, days_from_civil};

/// Which host a feed lives on (one base URL and one pacing per host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Host {
    Twse,
    Tpex,
    Mops,
}

impl Host {
    /// The base URL: `$DSL_TWSE_BASE_URL` / `$DSL_TPEX_BASE_URL` / `$DSL_MOPS_BASE_URL`, else
    /// the public host.
    pub fn default_base_url(self) -> String {
        let (env, default) = match self {
            Host::Twse => (twse::BASE_URL_ENV, twse::BASE_URL),
            Host::Tpex => (tpex::BASE_URL_ENV, tpex::BASE_URL),
            Host::Mops => (revenue::BASE_URL_ENV, revenue::BASE_URL),
        };
        std::env::var(env)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    }
}

/// When a feed is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// One request per weekday (and make-up Saturday).
    Daily,
    /// One request per calendar month, for the days up to the month's end (or the range's).
    Monthly,
    /// One request per published month: the candidate date is the filing deadline, the 10th of
    /// the next month, and a month is asked only after its deadline has passed.
    Published,
}

/// One feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feed {
    /// TWSE daily quotes, `MI_INDEX?type=ALLBUT0999`.
    Twse,
    /// TPEx daily quotes, `dailyQuotes`.
    Tpex,
    /// TWSE ex-rights/dividend results, `TWT49U`.
    TwseActions,
    /// TPEx ex-rights/dividend results, `exDailyQ`.
    TpexActions,
    /// TWSE P/E, P/B and yield, `BWIBBU_d`.
    TwseValuation,
    /// TPEx P/E, P/B and yield, `peQryDate`.
    TpexValuation,
    /// TWSE institutional investors, `T86`.
    TwseChips,
    /// TPEx institutional investors, `insti/dailyTrade`.
    TpexChips,
    /// TWSE margin and short balances, `MI_MARGN`.
    TwseMargin,
    /// TPEx margin and short balances, `margin/balance`.
    TpexMargin,
    /// MOPS monthly revenue, listed companies (`sii`, domestic `_0` and foreign `_1`).
    RevenueSii,
    RevenueSiiForeign,
    /// MOPS monthly revenue, OTC companies (`otc`, `_0` and `_1`).
    RevenueOtc,
    RevenueOtcForeign,
}

impl Feed {
    /// Every feed, in the polite order of `data fetch all`: quotes first (the calendar), then
    /// the feeds that extend them, alternating hosts.
    pub const ALL: [Feed; 14] = [
        Feed::Twse,
        Feed::Tpex,
        Feed::TwseActions,
        Feed::TpexActions,
        Feed::TwseValuation,
        Feed::TpexValuation,
        Feed::TwseChips,
        Feed::TpexChips,
        Feed::TwseMargin,
        Feed::TpexMargin,
        Feed::RevenueSii,
        Feed::RevenueSiiForeign,
        Feed::RevenueOtc,
        Feed::RevenueOtcForeign,
    ];

    /// Directory and state name.
    pub fn name(self) -> &'static str {
        match self {
            Feed::Twse => "twse",
            Feed::Tpex => "tpex",
            Feed::TwseActions => "twse-actions",
            Feed::TpexActions => "tpex-actions",
            Feed::TwseValuation => "twse-valuation",
            Feed::TpexValuation => "tpex-valuation",
            Feed::TwseChips => "twse-chips",
            Feed::TpexChips => "tpex-chips",
            Feed::TwseMargin => "twse-margin",
            Feed::TpexMargin => "tpex-margin",
            Feed::RevenueSii => "revenue-sii",
            Feed::RevenueSiiForeign => "revenue-sii-foreign",
            Feed::RevenueOtc => "revenue-otc",
            Feed::RevenueOtcForeign => "revenue-otc-foreign",
        }
    }

    /// The endpoint, for provenance.
    pub fn label(self) -> &'static str {
        match self {
            Feed::Twse => "TWSE rwd/zh/afterTrading/MI_INDEX (type=ALLBUT0999)",
            Feed::Tpex => "TPEx www/zh-tw/afterTrading/dailyQuotes",
            Feed::TwseActions => "TWSE rwd/zh/exRight/TWT49U",
            Feed::TpexActions => "TPEx www/zh-tw/bulletin/exDailyQ",
            Feed::TwseValuation => "TWSE rwd/zh/afterTrading/BWIBBU_d",
            Feed::TpexValuation => "TPEx www/zh-tw/afterTrading/peQryDate",
            Feed::TwseChips => "TWSE rwd/zh/fund/T86",
            Feed::TpexChips => "TPEx www/zh-tw/insti/dailyTrade",
            Feed::TwseMargin => "TWSE rwd/zh/marginTrading/MI_MARGN",
            Feed::TpexMargin => "TPEx www/zh-tw/margin/balance",
            Feed::RevenueSii => "MOPS nas/t21/sii/t21sc03 (_0)",
            Feed::RevenueSiiForeign => "MOPS nas/t21/sii/t21sc03 (_1)",
            Feed::RevenueOtc => "MOPS nas/t21/otc/t21sc03 (_0)",
            Feed::RevenueOtcForeign => "MOPS nas/t21/otc/t21sc03 (_1)",
        }
    }

    /// The host it lives on.
    pub fn host(self) -> Host {
        match self {
            Feed::Twse | Feed::TwseActions | Feed::TwseValuation | Feed::TwseChips => Host::Twse,
            Feed::TwseMargin => Host::Twse,
            Feed::Tpex | Feed::TpexActions | Feed::TpexValuation | Feed::TpexChips => Host::Tpex,
            Feed::TpexMargin => Host::Tpex,
            _ => Host::Mops,
        }
    }

    /// The exchange whose securities it covers (`twse` or `tpex`).
    pub fn exchange(self) -> &'static str {
        match self {
            Feed::RevenueSii | Feed::RevenueSiiForeign => "twse",
            Feed::RevenueOtc | Feed::RevenueOtcForeign => "tpex",
            f if f.host() == Host::Twse => "twse",
            _ => "tpex",
        }
    }

    /// The base URL of its host.
    pub fn default_base_url(self) -> String {
        self.host().default_base_url()
    }

    /// When it is asked.
    pub fn schedule(self) -> Schedule {
        match self {
            Feed::TwseActions | Feed::TpexActions => Schedule::Monthly,
            Feed::RevenueSii
            | Feed::RevenueSiiForeign
            | Feed::RevenueOtc
            | Feed::RevenueOtcForeign => Schedule::Published,
            _ => Schedule::Daily,
        }
    }

    /// Raw answers are kept as `raw/<name>/YYYYMMDD.<ext>`.
    pub fn raw_ext(self) -> &'static str {
        match self.host() {
            Host::Mops => "html",
            _ => "json",
        }
    }

    /// Whether answers are cp950 (Big5) rather than UTF-8.
    pub fn cp950(self) -> bool {
        self.host() == Host::Mops
    }

    /// First date the feed answers for.
    pub fn earliest(self) -> i32 {
        let (y, m, d) = match self {
            Feed::Twse => twse::EARLIEST,
            Feed::TwseActions => actions::TWSE_EARLIEST,
            Feed::TwseValuation | Feed::TwseChips | Feed::TwseMargin => twse::EARLIEST,
            Feed::Tpex | Feed::TpexActions | Feed::TpexValuation => tpex::EARLIEST,
            Feed::TpexChips | Feed::TpexMargin => tpex::EARLIEST,
            _ => revenue::EARLIEST,
        };
        days_from_civil(y, m, d)
    }

    /// The request path and query for a candidate date.
    pub fn path(self, date: i32) -> String {
        match self {
            Feed::Twse => twse::path(date),
            Feed::Tpex => tpex::path(date),
            Feed::TwseActions => actions::twse_path(month_start(date), date),
            Feed::TpexActions => actions::tpex_path(month_start(date), date),
            Feed::TwseValuation => daily::twse_path("afterTrading/BWIBBU_d", "ALL", date),
            Feed::TwseChips => daily::twse_path("fund/T86", "ALLBUT0999", date),
            Feed::TwseMargin => daily::twse_path("marginTrading/MI_MARGN", "ALL", date),
            Feed::TpexValuation => daily::tpex_path("afterTrading/peQryDate", "", date),
            Feed::TpexChips => daily::tpex_path("insti/dailyTrade", "type=Daily&sect=EW&", date),
            Feed::TpexMargin => daily::tpex_path("margin/balance", "", date),
            Feed::RevenueSii => revenue::path("sii", false, date),
            Feed::RevenueSiiForeign => revenue::path("sii", true, date),
            Feed::RevenueOtc => revenue::path("otc", false, date),
            Feed::RevenueOtcForeign => revenue::path("otc", true, date),
        }
    }

    /// Parses an answer for a candidate date.
    pub fn parse(self, body: &str, date: i32) -> Result<Parsed, ParseError> {
        match self {
            Feed::Twse => twse::parse(body, date),
            Feed::Tpex => tpex::parse(body, date),
            Feed::TwseActions => actions::parse_twse(body, month_start(date), date),
            Feed::TpexActions => actions::parse_tpex(body, month_start(date), date),
            Feed::TwseValuation => daily::twse_valuation(body, date),
            Feed::TpexValuation => daily::tpex_valuation(body, date),
            Feed::TwseChips => daily::twse_chips(body, date),
            Feed::TpexChips => daily::tpex_chips(body, date),
            Feed::TwseMargin => daily::twse_margin(body, date),
            Feed::TpexMargin => daily::tpex_margin(body, date),
            _ => revenue::parse(body, date),
        }
    }
}

/// The first day of `date`'s month.
pub fn month_start(date: i32) -> i32 {
    let (y, m, _) = civil_from_days(date);
    days_from_civil(y, m, 1)
}

/// The last day of `date`'s month.
pub fn month_end(date: i32) -> i32 {
    let (y, m, _) = civil_from_days(date);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(ny, nm, 1) - 1
}
