//! Statistics of boot samples: median, min–max and the least-squares slope
//! of a time against the payload size. Pure functions on seconds and MiB.

/// Median, minimum and maximum of a set of samples (seconds).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// `max - min`: the run-to-run spread of the samples.
    pub fn spread(&self) -> f64 {
        self.max - self.min
    }
}

/// Summarizes `samples`; `None` when it is empty. NaNs are ignored.
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        n,
        median,
        min: v[0],
        max: v[n - 1],
    })
}

/// The median of `samples` (`None` when empty).
pub fn median(samples: &[f64]) -> Option<f64> {
    summarize(samples).map(|s| s.median)
}

/// Least-squares slope of `y` against `x` over `points` (`(x, y)` pairs);
/// `None` with fewer than two distinct `x` values.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

/// Slope of seconds against payload MiB, scaled to seconds per 100 MiB;
/// `points` are `(payload MiB, seconds)` — every sample, not medians, so the
/// fit weighs each boot alike.
pub fn slope_per_100_mib(points: &[(f64, f64)]) -> Option<f64> {
    slope(points).map(|s| s * 100.0)
}

/// `a / b` when both exist and `b` is not zero.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_odd_even_empty() {
        let s = summarize(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.n, s.median, s.min, s.max), (3, 2.0, 1.0, 3.0));
        assert_eq!(s.spread(), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(summarize(&[]), None);
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn slope_of_a_line_and_degenerate_inputs() {
        // t = 10 s + 0.05 s/MiB: 5 s per 100 MiB.
        let pts: Vec<(f64, f64)> = [0.0, 64.0, 256.0, 1024.0]
            .iter()
            .map(|&x| (x, 10.0 + 0.05 * x))
            .collect();
        let s = slope_per_100_mib(&pts).unwrap();
        assert!((s - 5.0).abs() < 1e-9, "{s}");
        // Noise around a flat line: slope near zero.
        let flat = [(0.0, 10.0), (0.0, 11.0), (256.0, 10.0), (256.0, 11.0)];
        assert_eq!(slope(&flat), Some(0.0));
        assert_eq!(slope(&[(1.0, 2.0)]), None);
        assert_eq!(slope(&[(1.0, 2.0), (1.0, 3.0)]), None);
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(Some(5.0), Some(10.0)), Some(0.5));
        assert_eq!(ratio(Some(5.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
    }
}
