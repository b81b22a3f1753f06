//! The dataset keys the generator writes, in finlab's spelling, and the panel indexes the
//! per-stock simulation writes into.

/// Indexes of the daily panels in [`DAILY_KEYS`].
pub mod daily {
    pub const CLOSE: usize = 0;
    pub const OPEN: usize = 1;
    pub const HIGH: usize = 2;
    pub const LOW: usize = 3;
    pub const VOLUME: usize = 4;
    pub const VALUE: usize = 5;
    pub const TRADES: usize = 6;
    pub const ADJ_CLOSE: usize = 7;
    pub const ADJ_OPEN: usize = 8;
    pub const ADJ_HIGH: usize = 9;
    pub const ADJ_LOW: usize = 10;
    pub const MARKET_VALUE: usize = 11;
    pub const PE: usize = 12;
    pub const PB: usize = 13;
    pub const YIELD: usize = 14;
    pub const FOREIGN: usize = 15;
    pub const TRUST: usize = 16;
    pub const DEALER: usize = 17;
    pub const HEDGE: usize = 18;
    pub const HOLDING: usize = 19;
    pub const MARGIN: usize = 20;
    pub const SHORT: usize = 21;
    pub const MARGIN_USE: usize = 22;
    pub const SHORT_USE: usize = 23;
    pub const DAY_TRADE: usize = 24;
    pub const FOREIGN_BUY: usize = 25;
    pub const FOREIGN_SELL: usize = 26;
    pub const TRUST_BUY: usize = 27;
    pub const TRUST_SELL: usize = 28;
    pub const SHARES: usize = 29;
    pub const FOREIGN_SHARES: usize = 30;
    pub const MARGIN_BUY: usize = 31;
    pub const MARGIN_SELL: usize = 32;
    pub const SHORT_SELL: usize = 33;
    pub const SHORT_BUY: usize = 34;
    pub const SBL: usize = 35;
}

/// Daily panels (one row per session), in the order of [`daily`].
pub const DAILY_KEYS: [&str; 36] = [
    "price:收盤價",
    "price:開盤價",
    "price:最高價",
    "price:最低價",
    "price:成交股數",
    "price:成交金額",
    "price:成交筆數",
    "etl:adj_close",
    "etl:adj_open",
    "etl:adj_high",
    "etl:adj_low",
    "etl:market_value",
    "price_earning_ratio:本益比",
    "price_earning_ratio:股價淨值比",
    "price_earning_ratio:殖利率(%)",
    "institutional_investors_trading_summary:外陸資買賣超股數(不含外資自營商)",
    "institutional_investors_trading_summary:投信買賣超股數",
    "institutional_investors_trading_summary:自營商買賣超股數(自行買賣)",
    "institutional_investors_trading_summary:自營商買賣超股數(避險)",
    "foreign_investors_shareholding:全體外資及陸資持股比率",
    "margin_transactions:融資今日餘額",
    "margin_transactions:融券今日餘額",
    "margin_transactions:融資使用率",
    "margin_transactions:融券使用率",
    "intraday_trading:當日沖銷交易成交股數",
    "institutional_investors_trading_summary:外陸資買進股數(不含外資自營商)",
    "institutional_investors_trading_summary:外陸資賣出股數(不含外資自營商)",
    "institutional_investors_trading_summary:投信買進股數",
    "institutional_investors_trading_summary:投信賣出股數",
    "foreign_investors_shareholding:發行股數",
    "foreign_investors_shareholding:全體外資及陸資持有股數",
    "margin_transactions:融資買進",
    "margin_transactions:融資賣出",
    "margin_transactions:融券賣出",
    "margin_transactions:融券買進",
    "security_lending_sell:借券賣出餘額",
];

/// Monthly revenue panels (one row per publication session).
pub const MONTHLY_KEYS: [&str; 8] = [
    "monthly_revenue:當月營收",
    "monthly_revenue:上月營收",
    "monthly_revenue:去年當月營收",
    "monthly_revenue:上月比較增減(%)",
    "monthly_revenue:去年同月增減(%)",
    "monthly_revenue:當月累計營收",
    "monthly_revenue:去年累計營收",
    "monthly_revenue:前期比較增減(%)",
];

/// Indexes of the quarterly panels in [`QUARTERLY_KEYS`].
pub mod quarterly {
    pub const EPS: usize = 0;
    pub const REVENUE: usize = 1;
    pub const GROSS: usize = 2;
    pub const OPERATING: usize = 3;
    pub const PRETAX: usize = 4;
    pub const PARENT: usize = 5;
    pub const EQUITY: usize = 6;
    pub const ASSETS: usize = 7;
    pub const LIABILITIES: usize = 8;
    pub const CAPITAL: usize = 9;
    pub const CASH: usize = 10;
    pub const OCF: usize = 11;
    pub const ROE: usize = 12;
    pub const ROA: usize = 13;
    pub const GROSS_MARGIN: usize = 14;
    pub const OP_MARGIN: usize = 15;
    pub const NET_MARGIN: usize = 16;
    pub const REV_GROWTH: usize = 17;
    pub const DEBT_RATIO: usize = 18;
}

/// Quarterly panels (one row per statutory filing deadline), in the order of [`quarterly`].
pub const QUARTERLY_KEYS: [&str; 19] = [
    "financial_statement:每股盈餘",
    "financial_statement:營業收入淨額",
    "financial_statement:營業毛利",
    "financial_statement:營業利益",
    "financial_statement:稅前淨利",
    "financial_statement:歸屬母公司淨利_損",
    "financial_statement:股東權益總額",
    "financial_statement:資產總額",
    "financial_statement:負債總額",
    "financial_statement:股本",
    "financial_statement:現金及約當現金",
    "financial_statement:營業活動之淨現金流入_流出",
    "fundamental_features:ROE稅後",
    "fundamental_features:ROA稅後息前",
    "fundamental_features:營業毛利率",
    "fundamental_features:營業利益率",
    "fundamental_features:稅後淨利率",
    "fundamental_features:營收成長率",
    "fundamental_features:負債比率",
];

/// The synthetic cap-weighted total-return index of the TWSE main board (finlab's benchmark key
/// and column name; the values are synthetic).
pub const BENCHMARK: (&str, &str) = (
    "benchmark_return:發行量加權股價報酬指數",
    "發行量加權股價報酬指數",
);
/// Its price-index twin.
pub const PRICE_INDEX: (&str, &str) = ("taiex_total_index:收盤指數", "發行量加權股價指數");
/// The price index's open, high and low (same column as [`PRICE_INDEX`]).
pub const PRICE_INDEX_OHL: [&str; 3] = [
    "taiex_total_index:開盤指數",
    "taiex_total_index:最高指數",
    "taiex_total_index:最低指數",
];
