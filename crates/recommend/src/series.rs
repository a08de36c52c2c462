//! Snapshots grouped by step and ordered by time, and the sustained-window
//! test the telemetry rules share.

use std::collections::BTreeMap;

use telemetry_model::TelemetrySnapshot;

/// Fewest samples a window may hold, however long it lasts: two samples a
/// long gap apart say nothing about what happened in between.
pub const MIN_WINDOW_SAMPLES: usize = 3;

/// A value the rules may use: present, finite and ≥ 0.
pub(crate) fn valid(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v >= 0.0)
}

/// The snapshots of each step (`None`: samples outside any step), sorted
/// by `timestamp_ms` (stable, so equal times keep their input order).
pub(crate) fn by_step(
    snapshots: &[TelemetrySnapshot],
) -> BTreeMap<Option<&str>, Vec<&TelemetrySnapshot>> {
    let mut groups: BTreeMap<Option<&str>, Vec<&TelemetrySnapshot>> = BTreeMap::new();
    for s in snapshots {
        groups.entry(s.step_id.as_deref()).or_default().push(s);
    }
    for samples in groups.values_mut() {
        samples.sort_by_key(|s| s.timestamp_ms);
    }
    groups
}

/// Where a condition held in a sustained way: the union of every
/// qualifying window, as inclusive index ranges trimmed to samples that
/// meet the condition.
#[derive(Debug, PartialEq)]
pub(crate) struct Stretch {
    pub(crate) ranges: Vec<(usize, usize)>,
}

impl Stretch {
    /// Indices of every sample inside the stretch.
    pub(crate) fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.ranges.iter().flat_map(|&(a, b)| a..=b)
    }

    /// Seconds covered (sum over the ranges).
    pub(crate) fn seconds(&self, times: &[i64]) -> f64 {
        self.ranges
            .iter()
            .map(|&(a, b)| (times[b] - times[a]) as f64 / 1000.0)
            .sum()
    }
}

/// The sustained test: a window runs from a sample that meets the
/// condition to the first sample at least `min_duration_seconds` later
/// (snapshot time, not sample count); it qualifies when it holds at least
/// [`MIN_WINDOW_SAMPLES`] samples and at least `min_fraction` of them meet
/// the condition. `None` when no window qualifies (a single spike never
/// does) or the parameters are not usable numbers.
///
/// `times` must be sorted; `hits[i]` says whether sample `i` meets the
/// condition. Linear in the number of samples.
pub(crate) fn sustained(
    times: &[i64],
    hits: &[bool],
    min_duration_seconds: f64,
    min_fraction: f64,
) -> Option<Stretch> {
    let usable = min_duration_seconds.is_finite()
        && min_duration_seconds > 0.0
        && min_fraction.is_finite()
        && min_fraction > 0.0;
    if !usable || times.len() != hits.len() {
        return None;
    }
    let min_ms = (min_duration_seconds * 1000.0).ceil() as i64;
    let n = times.len();
    let mut hit_prefix = Vec::with_capacity(n + 1);
    hit_prefix.push(0usize);
    for &h in hits {
        hit_prefix.push(hit_prefix[hit_prefix.len() - 1] + usize::from(h));
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut end = 0;
    for start in 0..n {
        end = end.max(start);
        while end < n && times[end].saturating_sub(times[start]) < min_ms {
            end += 1;
        }
        if end == n {
            break;
        }
        if !hits[start] {
            continue;
        }
        let count = end - start + 1;
        let met = hit_prefix[end + 1] - hit_prefix[start];
        // A hair of tolerance, so 0.8 × 10 samples is met by 8 of them.
        let qualifies =
            count >= MIN_WINDOW_SAMPLES && met as f64 >= min_fraction * count as f64 - 1e-9;
        if !qualifies {
            continue;
        }
        match ranges.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => ranges.push((start, end)),
        }
    }
    for range in &mut ranges {
        while !hits[range.1] && range.1 > range.0 {
            range.1 -= 1;
        }
    }
    (!ranges.is_empty()).then_some(Stretch { ranges })
}

/// Mean and maximum of the values that are present.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct MeanMax {
    sum: f64,
    count: usize,
    max: Option<f64>,
}

impl MeanMax {
    pub(crate) fn add(&mut self, value: Option<f64>) {
        if let Some(v) = valid(value) {
            self.sum += v;
            self.count += 1;
            self.max = Some(self.max.map_or(v, |m: f64| m.max(v)));
        }
    }

    pub(crate) fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    pub(crate) fn max(&self) -> Option<f64> {
        self.max
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: usize, step_s: i64) -> Vec<i64> {
        (0..n as i64).map(|i| i * step_s * 1000).collect()
    }

    #[test]
    fn a_single_spike_is_not_sustained() {
        let times = secs(60, 1);
        let mut hits = vec![false; 60];
        hits[20] = true;
        assert_eq!(sustained(&times, &hits, 30.0, 0.8), None);
    }

    #[test]
    fn a_long_enough_run_is_sustained_and_trimmed() {
        let times = secs(60, 1);
        let hits: Vec<bool> = (0..60).map(|i| (10..45).contains(&i)).collect();
        let stretch = sustained(&times, &hits, 30.0, 0.8).unwrap();
        assert_eq!(stretch.ranges, vec![(10, 44)]);
        assert_eq!(stretch.seconds(&times), 34.0);
        assert_eq!(stretch.indices().count(), 35);
    }

    #[test]
    fn too_short_a_run_is_not_sustained() {
        let times = secs(60, 1);
        let hits: Vec<bool> = (0..60).map(|i| (10..30).contains(&i)).collect();
        assert_eq!(sustained(&times, &hits, 30.0, 0.8), None);
    }

    #[test]
    fn the_fraction_tolerates_a_few_dips() {
        let times = secs(40, 1);
        // Every fifth sample dips: 80 % of samples meet the condition.
        let hits: Vec<bool> = (0..40).map(|i| i % 5 != 4).collect();
        assert!(sustained(&times, &hits, 30.0, 0.8).is_some());
        assert!(sustained(&times, &hits, 30.0, 0.9).is_none());
    }

    #[test]
    fn time_not_sample_count_decides() {
        // 40 samples, but only 3.9 s of snapshot time.
        let times: Vec<i64> = (0..40).map(|i| i * 100).collect();
        assert_eq!(sustained(&times, &[true; 40], 30.0, 0.8), None);
        // Two samples a minute apart are too few.
        assert_eq!(sustained(&[0, 60_000], &[true, true], 30.0, 0.8), None);
        assert!(sustained(&[0, 20_000, 40_000], &[true; 3], 30.0, 0.8).is_some());
    }

    #[test]
    fn unusable_parameters_never_fire() {
        let times = secs(60, 1);
        let hits = vec![true; 60];
        assert_eq!(sustained(&times, &hits, f64::NAN, 0.8), None);
        assert_eq!(sustained(&times, &hits, 0.0, 0.8), None);
        assert_eq!(sustained(&times, &hits, 30.0, f64::NAN), None);
        assert_eq!(sustained(&times, &hits[1..], 30.0, 0.8), None);
        assert_eq!(sustained(&[], &[], 30.0, 0.8), None);
    }

    #[test]
    fn mean_max_skips_missing_and_bad_values() {
        let mut m = MeanMax::default();
        for v in [Some(1.0), None, Some(f64::NAN), Some(-4.0), Some(3.0)] {
            m.add(v);
        }
        assert_eq!((m.mean(), m.max(), m.count()), (Some(2.0), Some(3.0), 2));
        assert_eq!(MeanMax::default().mean(), None);
    }
}
