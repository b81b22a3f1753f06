//! The seed strategies of the evolutionary search and the few-shot examples of the prompt: the
//! hand-written `examples/*.strat`, built into the binary (a test keeps the list complete).

/// `(file name, text)` of every example strategy.
pub const SEEDS: &[(&str, &str)] = &[
    (
        "cheap_pb_trend.strat",
        include_str!("../../examples/cheap_pb_trend.strat"),
    ),
    (
        "entry_exit_rotation.strat",
        include_str!("../../examples/entry_exit_rotation.strat"),
    ),
    (
        "factor_blend.strat",
        include_str!("../../examples/factor_blend.strat"),
    ),
    (
        "high_rsi.strat",
        include_str!("../../examples/high_rsi.strat"),
    ),
    (
        "high_yield_turtle.strat",
        include_str!("../../examples/high_yield_turtle.strat"),
    ),
    (
        "industry_leaders.strat",
        include_str!("../../examples/industry_leaders.strat"),
    ),
    (
        "low_volatility_weekly.strat",
        include_str!("../../examples/low_volatility_weekly.strat"),
    ),
    (
        "ma_cross.strat",
        include_str!("../../examples/ma_cross.strat"),
    ),
    (
        "macd_kd.strat",
        include_str!("../../examples/macd_kd.strat"),
    ),
    (
        "mastiff.strat",
        include_str!("../../examples/mastiff.strat"),
    ),
    (
        "momentum.strat",
        include_str!("../../examples/momentum.strat"),
    ),
    (
        "momentum_roe.strat",
        include_str!("../../examples/momentum_roe.strat"),
    ),
    (
        "new_high.strat",
        include_str!("../../examples/new_high.strat"),
    ),
    (
        "peg_revenue.strat",
        include_str!("../../examples/peg_revenue.strat"),
    ),
    (
        "quality_rank.strat",
        include_str!("../../examples/quality_rank.strat"),
    ),
    (
        "revenue_momentum.strat",
        include_str!("../../examples/revenue_momentum.strat"),
    ),
    (
        "trend_stops.strat",
        include_str!("../../examples/trend_stops.strat"),
    ),
    (
        "twin_turbo.strat",
        include_str!("../../examples/twin_turbo.strat"),
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_example_is_a_seed() {
        let mut on_disk: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".strat"))
                .collect();
        on_disk.sort();
        let seeds: Vec<String> = super::SEEDS.iter().map(|s| s.0.to_string()).collect();
        assert_eq!(seeds, on_disk);
    }
}
