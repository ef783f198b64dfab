//! Figures of a run and the report: medians over runs, the worst run for must-be-zero
//! counters, as a table or one JSON object.
use std::collections::BTreeMap;

use crate::prelude::*;

/// How several runs' values of one figure combine.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Agg {
    Median,
    /// Integrity counters: the worst run counts.
    Max,
}

#[derive(Clone)]
pub(crate) struct Figure {
    pub(crate) name: String,
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
    pub(crate) agg: Agg,
}

#[derive(Default)]
pub(crate) struct Run {
    pub(crate) figures: Vec<Figure>,
}

impl Run {
    pub(crate) fn add(&mut self, name: &str, value: f64, unit: &'static str) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit,
            agg: Agg::Median,
        });
    }
    /// A counter that must be zero.
    pub(crate) fn zero(&mut self, name: &str, value: f64) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit: "",
            agg: Agg::Max,
        });
    }
}

/// Median of the runs that produced the figure (NaN: not measured in that run).
pub(crate) fn median(v: Vec<f64>) -> f64 {
    let mut v: Vec<f64> = v.into_iter().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub(crate) fn fmt_value(v: f64, unit: &str) -> String {
    if v.is_nan() {
        return "n/a".into();
    }
    let num = if v.abs() >= 1000.0 || v.fract() == 0.0 {
        let s = format!("{:.0}", v);
        // thousands separators
        let (sign, digits) = s.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("", &s));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if v.abs() >= 10.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.3}", v)
    };
    if unit.is_empty() {
        num
    } else {
        format!("{num} {unit}")
    }
}

pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Combines the runs and prints the report (a table, or one JSON object with `json`);
/// true when every must-be-zero counter is zero.
pub(crate) fn print(scenario: &str, settings: Value, json: bool, all: &[Run]) -> bool {
    let runs = all.len();
    // Combine per figure name, in first-run order.
    let mut order: Vec<(String, &'static str, Agg)> = Vec::new();
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for run in all {
        for f in &run.figures {
            if !values.contains_key(&f.name) {
                order.push((f.name.clone(), f.unit, f.agg));
            }
            values.entry(f.name.clone()).or_default().push(f.value);
        }
    }
    let combined: Vec<(String, &'static str, Agg, f64)> = order
        .into_iter()
        .map(|(name, unit, agg)| {
            let v = values[&name].clone();
            let x = match agg {
                Agg::Median => median(v),
                Agg::Max => v.into_iter().fold(0.0, f64::max),
            };
            (name, unit, agg, x)
        })
        .collect();
    let ok = combined.iter().all(|(_, _, agg, x)| *agg != Agg::Max || *x == 0.0);
    if json {
        let mut figures = serde_json::Map::new();
        for (name, unit, _, x) in &combined {
            figures.insert(
                name.clone(),
                json!({"value": if x.is_finite() { json!(x) } else { Value::Null }, "unit": unit}),
            );
        }
        let per_run: Vec<Value> = all
            .iter()
            .map(|r| {
                Value::Object(
                    r.figures
                        .iter()
                        .map(|f| {
                            (
                                f.name.clone(),
                                if f.value.is_finite() {
                                    json!(f.value)
                                } else {
                                    Value::Null
                                },
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        println!(
            "{}",
            json!({
                "scenario": scenario,
                "settings": settings,
                "runs": runs,
                "aggregate": "median over runs; zero-counters: worst run",
                "figures": figures,
                "per_run": per_run,
                "integrity_ok": ok,
            })
        );
    } else {
        println!(
            "\n== {} ==  ({} run{}, median)",
            scenario,
            runs,
            if runs > 1 { "s" } else { "" }
        );
        println!("settings: {settings}");
        let w = combined.iter().map(|c| c.0.len()).max().unwrap_or(10) + 2;
        for (name, unit, agg, x) in &combined {
            let mark = if *agg == Agg::Max {
                if *x == 0.0 {
                    "  ok (must be 0)"
                } else {
                    "  FAIL (must be 0)"
                }
            } else {
                ""
            };
            println!("  {:<w$}{:>16}{mark}", name, fmt_value(*x, unit));
        }
        println!("integrity: {}", if ok { "ok" } else { "FAILED" });
    }
    ok
}
