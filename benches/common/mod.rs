//! What both benches print: a ratio as the median over independent rounds, with its spread.

/// Prints `ratio <name> <median>` (tools read this line) and the spread over the rounds.
pub fn print_ratio(name: &str, ratios: &[f64], detail: &str) {
    let mut sorted = ratios.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    println!("ratio {name} {median:.3}");
    println!(
        "  spread over {} rounds: min {:.3} max {:.3}; {detail}",
        sorted.len(),
        sorted[0],
        sorted[sorted.len() - 1]
    );
}
