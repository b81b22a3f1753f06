//! The statement items and ratios beyond the core P&L and balance sheet (`docs/data.md` §4.4):
//! cost of revenue and the operating-expense split, non-operating income, tax, finance costs,
//! depreciation and amortisation, working capital (receivables, inventory, current assets and
//! liabilities), fixed assets, the three cash flows, and every `fundamental_features` ratio
//! finlab documents, derived from them.
//!
//! Drawn from a stock's own extension stream (`ext/<code>`) after its core fundamentals, so the
//! core panels are bit-identical with or without these items. Each item is tied to the core
//! values it comes from: operating expenses are gross profit − operating income, non-operating
//! income is pre-tax − operating income, tax is pre-tax − net income, EBITDA is operating income
//! + depreciation + amortisation, financing cash flow closes the change in cash.

use super::model::two_dp;
use crate::util::rng::Rng;

/// The extra quarterly keys, in output order: 21 `financial_statement` items, then the 46
/// `fundamental_features` ratios (in finlab's documented order).
pub const KEYS: [&str; 67] = [
    "financial_statement:營業成本",
    "financial_statement:營業費用",
    "financial_statement:推銷費用",
    "financial_statement:管理費用",
    "financial_statement:研究發展費",
    "financial_statement:營業外收入及支出",
    "financial_statement:所得稅費用",
    "financial_statement:財務成本",
    "financial_statement:折舊費用",
    "financial_statement:攤銷費用",
    "financial_statement:存貨",
    "financial_statement:應收帳款及票據",
    "financial_statement:流動資產",
    "financial_statement:流動負債",
    "financial_statement:不動產廠房及設備",
    "financial_statement:合約負債_流動",
    "financial_statement:普通股股本",
    "financial_statement:本期綜合損益總額",
    "financial_statement:投資活動之淨現金流入_流出",
    "financial_statement:籌資活動之淨現金流入_流出",
    "financial_statement:取得不動產_廠房及設備",
    "fundamental_features:營業利益",
    "fundamental_features:EBITDA",
    "fundamental_features:營運現金流",
    "fundamental_features:歸屬母公司淨利",
    "fundamental_features:折舊",
    "fundamental_features:流動資產",
    "fundamental_features:流動負債",
    "fundamental_features:取得不動產廠房及設備",
    "fundamental_features:經常稅後淨利",
    "fundamental_features:ROA綜合損益",
    "fundamental_features:ROE綜合損益",
    "fundamental_features:稅前息前折舊前淨利率",
    "fundamental_features:稅前淨利率",
    "fundamental_features:業外收支營收率",
    "fundamental_features:貝里比率",
    "fundamental_features:營業費用率",
    "fundamental_features:推銷費用率",
    "fundamental_features:管理費用率",
    "fundamental_features:研究發展費用率",
    "fundamental_features:現金流量比率",
    "fundamental_features:稅率",
    "fundamental_features:每股營業額",
    "fundamental_features:每股營業利益",
    "fundamental_features:每股現金流量",
    "fundamental_features:每股稅前淨利",
    "fundamental_features:每股綜合損益",
    "fundamental_features:每股稅後淨利",
    "fundamental_features:總負債除總淨值",
    "fundamental_features:淨值除資產",
    "fundamental_features:營業毛利成長率",
    "fundamental_features:營業利益成長率",
    "fundamental_features:稅前淨利成長率",
    "fundamental_features:稅後淨利成長率",
    "fundamental_features:經常利益成長率",
    "fundamental_features:資產總額成長率",
    "fundamental_features:淨值成長率",
    "fundamental_features:流動比率",
    "fundamental_features:速動比率",
    "fundamental_features:利息支出率",
    "fundamental_features:營運資金",
    "fundamental_features:總資產週轉次數",
    "fundamental_features:應收帳款週轉率",
    "fundamental_features:存貨週轉率",
    "fundamental_features:固定資產週轉次數",
    "fundamental_features:淨值週轉率次數",
    "fundamental_features:自由現金流量",
];

/// A company's fixed accounting traits.
struct Profile {
    /// Shares of operating expenses: R&D and selling (the rest is administration).
    rd: f64,
    selling: f64,
    /// Days of revenue in receivables, days of cost of revenue in inventory.
    dso: f64,
    dio: f64,
    /// Other current assets and property, plant and equipment as shares of assets.
    other_ca: f64,
    ppe: f64,
    /// Current liabilities as a share of liabilities; contract liabilities of those.
    current_liab: f64,
    contract: f64,
    /// Yearly depreciation and amortisation rates of fixed assets; yearly interest rate on
    /// liabilities; capital expenditure as a multiple of depreciation.
    depreciation: f64,
    amortisation: f64,
    interest: f64,
    capex: f64,
    /// Finance and insurance: no current/non-current split (their ratios are NaN).
    finance: bool,
}

impl Profile {
    fn draw(rng: &mut Rng, finance: bool, electronics: bool) -> Profile {
        let rd = if electronics {
            rng.range(0.25, 0.6)
        } else {
            rng.range(0.0, 0.2)
        };
        Profile {
            rd,
            selling: (1.0 - rd) * rng.range(0.3, 0.6),
            dso: rng.range(30.0, 100.0),
            dio: rng.range(15.0, 120.0),
            other_ca: rng.range(0.01, 0.05),
            ppe: if finance {
                rng.range(0.005, 0.02)
            } else {
                rng.range(0.1, 0.5)
            },
            current_liab: rng.range(0.35, 0.7),
            contract: rng.range(0.0, 0.12),
            depreciation: rng.range(0.05, 0.12),
            amortisation: rng.range(0.002, 0.02),
            interest: if finance {
                rng.range(0.004, 0.012)
            } else {
                rng.range(0.008, 0.03)
            },
            capex: rng.lognormal(0.8, 0.35),
            finance,
        }
    }
}

/// One quarter's items (thousand NT$, unrounded): the core values and what derives from them.
#[derive(Clone, Copy, Debug)]
pub struct Items {
    core: [f64; 10],
    cogs: f64,
    opex: f64,
    selling: f64,
    admin: f64,
    rd: f64,
    nonop: f64,
    tax: f64,
    interest: f64,
    depreciation: f64,
    amortisation: f64,
    inventory: f64,
    receivables: f64,
    /// Other current assets (prepayments and the like: not quick).
    other: f64,
    current_assets: f64,
    current_liab: f64,
    ppe: f64,
    contract: f64,
    comprehensive: f64,
    investing: f64,
    financing: f64,
    capex: f64,
    recurring: f64,
}

/// Draws every quarter's items from the core values (`[revenue, gross, operating, pre-tax,
/// net, parent, equity, assets, cash, operating cash flow]`, NaN for quarters not simulated).
pub fn draw(
    rng: &mut Rng,
    quarters: &[[f64; 10]],
    finance: bool,
    electronics: bool,
) -> Vec<Option<Items>> {
    let p = Profile::draw(rng, finance, electronics);
    let mut prev_cash = f64::NAN;
    quarters
        .iter()
        .map(|&core| {
            if core[0].is_nan() {
                return None;
            }
            let it = quarter(rng, &p, core, prev_cash);
            prev_cash = core[8];
            Some(it)
        })
        .collect()
}

fn quarter(rng: &mut Rng, p: &Profile, core: [f64; 10], prev_cash: f64) -> Items {
    let [rev, gross, op, pretax, net, _, equity, assets, cash, ocf] = core;
    let liabilities = assets - equity;
    let opex = gross - op;
    let (rd, selling) = (opex * p.rd, opex * p.selling);
    let cogs = rev - gross;
    let mut receivables = rev * p.dso / 90.0 * libm::exp(0.08 * rng.normal());
    let mut inventory = cogs.max(0.0) * p.dio / 90.0 * libm::exp(0.1 * rng.normal());
    let mut other = assets * p.other_ca;
    let room = 0.9 * assets - cash;
    let working = receivables + inventory + other;
    if working > room {
        let s = (room / working).max(0.0);
        (receivables, inventory, other) = (receivables * s, inventory * s, other * s);
    }
    let current_assets = cash + receivables + inventory + other;
    let ppe = (assets * p.ppe * libm::exp(0.03 * rng.normal()))
        .min(0.95 * (assets - current_assets).max(0.0));
    let depreciation = ppe * p.depreciation / 4.0;
    let amortisation = ppe * p.amortisation / 4.0;
    let capex = -depreciation * p.capex * libm::exp(0.3 * rng.normal());
    let investing = capex + 0.02 * rev * rng.normal();
    let current_liab = liabilities * p.current_liab * libm::exp(0.05 * rng.normal());
    let nonop = pretax - op;
    let one_off = nonop * rng.range(0.2, 0.8);
    // Banks and insurers do not split current and non-current items.
    let na = |x: f64| if p.finance { f64::NAN } else { x };
    Items {
        core,
        cogs,
        opex,
        selling,
        admin: opex - rd - selling,
        rd,
        nonop,
        tax: pretax - net,
        interest: liabilities * p.interest / 4.0 * libm::exp(0.1 * rng.normal()),
        depreciation,
        amortisation,
        inventory: na(inventory),
        receivables: na(receivables),
        other: na(other),
        current_assets: na(current_assets),
        current_liab: na(current_liab),
        ppe,
        contract: na(current_liab * p.contract * libm::exp(0.2 * rng.normal())),
        comprehensive: net + 0.004 * equity * rng.normal(),
        investing,
        financing: if prev_cash.is_nan() {
            -ocf - investing
        } else {
            cash - prev_cash - ocf - investing
        },
        capex,
        recurring: net - 0.8 * one_off,
    }
}

/// `a / b × 100` rounded to 0.01, NaN when `b` is not positive.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        two_dp(a / b * 100.0)
    } else {
        f64::NAN
    }
}

/// Year-on-year growth in %, against the magnitude of last year's value (so a loss shrinking
/// is growth); NaN without last year's value or when it was 0.
fn growth(now: f64, last: f64) -> f64 {
    if last != 0.0 && last.is_finite() {
        two_dp((now - last) / last.abs() * 100.0)
    } else {
        f64::NAN
    }
}

/// Yearly turnover: four times the quarter's flow over the stock.
fn turnover(flow: f64, stock: f64) -> f64 {
    if stock > 0.0 {
        two_dp(4.0 * flow / stock)
    } else {
        f64::NAN
    }
}

/// The [`KEYS`] values of a quarter, given last year's same quarter and the shares outstanding.
pub fn values(it: &Items, last_year: Option<&Items>, shares: f64) -> [f64; 67] {
    let [rev, gross, op, pretax, net, parent, equity, assets, _, ocf] = it.core;
    let money = libm::round;
    let per_share = |x: f64| two_dp(x * 1000.0 / shares);
    let ly = |f: fn(&Items) -> f64| last_year.map_or(f64::NAN, f);
    let ebitda = op + it.depreciation + it.amortisation;
    let capital = libm::round(shares * 10.0 / 1000.0);
    let quick = it.current_assets - it.inventory - it.other;
    [
        money(it.cogs),
        money(it.opex),
        money(it.selling),
        money(it.admin),
        money(it.rd),
        money(it.nonop),
        money(it.tax),
        money(it.interest),
        money(it.depreciation),
        money(it.amortisation),
        money(it.inventory),
        money(it.receivables),
        money(it.current_assets),
        money(it.current_liab),
        money(it.ppe),
        money(it.contract),
        capital,
        money(it.comprehensive),
        money(it.investing),
        money(it.financing),
        money(it.capex),
        // fundamental_features
        money(op),
        money(ebitda),
        money(ocf),
        money(parent),
        money(it.depreciation),
        money(it.current_assets),
        money(it.current_liab),
        money(it.capex),
        money(it.recurring),
        ratio(it.comprehensive, assets),
        ratio(it.comprehensive, equity),
        ratio(ebitda, rev),
        ratio(pretax, rev),
        ratio(it.nonop, rev),
        ratio(gross, it.opex),
        ratio(it.opex, rev),
        ratio(it.selling, rev),
        ratio(it.admin, rev),
        ratio(it.rd, rev),
        ratio(ocf, it.current_liab),
        if pretax > 0.0 {
            ratio(it.tax, pretax)
        } else {
            f64::NAN
        },
        per_share(rev),
        per_share(op),
        per_share(ocf),
        per_share(pretax),
        per_share(it.comprehensive),
        per_share(net),
        ratio(assets - equity, equity),
        ratio(equity, assets),
        growth(gross, ly(|l| l.core[1])),
        growth(op, ly(|l| l.core[2])),
        growth(pretax, ly(|l| l.core[3])),
        growth(net, ly(|l| l.core[4])),
        growth(it.recurring, ly(|l| l.recurring)),
        growth(assets, ly(|l| l.core[7])),
        growth(equity, ly(|l| l.core[6])),
        ratio(it.current_assets, it.current_liab),
        ratio(quick, it.current_liab),
        ratio(it.interest, rev),
        money(it.current_assets - it.current_liab),
        turnover(rev, assets),
        turnover(rev, it.receivables),
        turnover(it.cogs, it.inventory),
        turnover(rev, it.ppe),
        turnover(rev, equity),
        money(ocf + it.investing),
    ]
}
