//! The dashboard's memory: a ring of points over the last hour, one row of values per
//! series (a virtual service, a real server, a worker, the SYN proxy), all rows aligned on
//! one time axis so the page draws them without matching timestamps.

use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};

/// Values per point of a series; what each means depends on the kind of series
/// (see [`super::TRAFFIC_FIELDS`] and [`super::WORKER_FIELDS`]).
pub const WIDTH: usize = 7;
pub type Point = [f32; WIDTH];

/// Series that are not real servers are few; real servers may be thousands, so only the
/// first this many get a history (the live table shows them all).
pub const MAX_REAL_SERIES: usize = 512;

pub struct History {
    cap: usize,
    /// Unix time of each point, milliseconds, oldest first.
    t: VecDeque<u64>,
    series: HashMap<String, VecDeque<Point>>,
    real_series: usize,
}

fn is_real(id: &str) -> bool {
    id.starts_with("rs:")
}

impl History {
    pub fn new(cap: usize) -> Self {
        History { cap: cap.max(1), t: VecDeque::new(), series: HashMap::new(), real_series: 0 }
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Adds a point at `t_ms`. Series absent from `points` get a gap (NaN); new ones get
    /// gaps for the time before they appeared; a series that is only gaps is forgotten.
    pub fn push(&mut self, t_ms: u64, points: &HashMap<String, Point>) {
        let gap = [f32::NAN; WIDTH];
        let before = self.t.len();
        for id in points.keys() {
            if !self.series.contains_key(id) {
                if is_real(id) {
                    if self.real_series >= MAX_REAL_SERIES {
                        continue;
                    }
                    self.real_series += 1;
                }
                self.series.insert(id.clone(), std::iter::repeat_n(gap, before).collect());
            }
        }
        for (id, row) in self.series.iter_mut() {
            row.push_back(points.get(id).copied().unwrap_or(gap));
        }
        self.t.push_back(t_ms);
        while self.t.len() > self.cap {
            self.t.pop_front();
            for row in self.series.values_mut() {
                row.pop_front();
            }
        }
        let real_series = &mut self.real_series;
        self.series.retain(|id, row| {
            let keep = row.iter().any(|p| !p[0].is_nan());
            if !keep && is_real(id) {
                *real_series -= 1;
            }
            keep
        });
    }

    /// The points after `since_ms` as JSON: `{"t": [...], "series": {id: [[v, ...], ...]}}`,
    /// gaps as null.
    pub fn to_json(&self, since_ms: u64) -> Value {
        let from = self.t.iter().position(|&t| t > since_ms).unwrap_or(self.t.len());
        let num = |v: f32| {
            if v.is_finite() {
                json!((f64::from(v) * 1000.0).round() / 1000.0)
            } else {
                Value::Null
            }
        };
        let series: serde_json::Map<String, Value> = self
            .series
            .iter()
            .map(|(id, row)| {
                let pts: Vec<Value> = row
                    .iter()
                    .skip(from)
                    .map(|p| {
                        if p[0].is_nan() {
                            Value::Null
                        } else {
                            Value::Array(p.iter().map(|v| num(*v)).collect())
                        }
                    })
                    .collect();
                (id.clone(), Value::Array(pts))
            })
            .collect();
        json!({ "t": self.t.iter().skip(from).collect::<Vec<_>>(), "series": series })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(items: &[(&str, f32)]) -> HashMap<String, Point> {
        items.iter().map(|(k, v)| (k.to_string(), [*v; WIDTH])).collect()
    }

    #[test]
    fn aligned_ring_with_gaps() {
        let mut h = History::new(3);
        h.push(1000, &pts(&[("vs:a", 1.0)]));
        h.push(2000, &pts(&[("vs:a", 2.0), ("rs:b", 5.0)]));
        let v = h.to_json(0);
        assert_eq!(v["t"], json!([1000, 2000]));
        assert_eq!(v["series"]["rs:b"][0], Value::Null);
        assert_eq!(v["series"]["rs:b"][1][0], json!(5.0));
        h.push(3000, &pts(&[("vs:a", 3.0)]));
        h.push(4000, &pts(&[("vs:a", 4.0)]));
        assert_eq!(h.len(), 3);
        let v = h.to_json(2500);
        assert_eq!(v["t"], json!([3000, 4000]));
        assert_eq!(v["series"]["vs:a"][1][0], json!(4.0));
        // rs:b's only value left the window: forgotten.
        h.push(5000, &pts(&[("vs:a", 5.0)]));
        assert!(h.to_json(0)["series"].get("rs:b").is_none());
        assert_eq!(h.real_series, 0);
    }

    #[test]
    fn real_series_are_capped() {
        let mut h = History::new(10);
        let many: HashMap<String, Point> =
            (0..MAX_REAL_SERIES + 10).map(|i| (format!("rs:{i}"), [1.0; WIDTH])).collect();
        h.push(1, &many);
        assert_eq!(h.real_series, MAX_REAL_SERIES);
        assert_eq!(h.to_json(0)["series"].as_object().unwrap().len(), MAX_REAL_SERIES);
    }
}
