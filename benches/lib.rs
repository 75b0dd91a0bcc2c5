//! Helpers shared by the benchmarks: reading criterion's estimates to report ratios.

use std::path::PathBuf;

/// Criterion's output folder for this workspace.
pub fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("criterion")
        })
}

/// The mean time in nanoseconds criterion estimated for `group/function` in this run.
pub fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["mean"]["point_estimate"].as_f64()
}

/// Prints `name: ratio to floor` for each measured function of a group.
pub fn report_ratios(group: &str, floor: &str, others: &[&str]) {
    let Some(base) = mean_ns(group, floor) else {
        println!("{group}: no estimate for the floor `{floor}` (was it filtered out?)");
        return;
    };
    println!("\n{group}: floor `{floor}` = {:.1} µs", base / 1000.0);
    for other in others {
        if let Some(ns) = mean_ns(group, other) {
            println!(
                "{group}: `{other}` = {:.1} µs = {:.2}x the floor",
                ns / 1000.0,
                ns / base
            );
        }
    }
}
