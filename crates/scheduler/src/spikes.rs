//! What counts as a spike in a category's daily complaints.
//!
//! Complaints about one problem arrive independently of each other at some rate, so a day's
//! count is close to Poisson-distributed around the trailing baseline's daily mean. A spike is a
//! day whose count would be that high by chance less than `spike_p_value` of the time (the
//! upper tail of the Poisson distribution), that is also `spike_factor` times the baseline and
//! at least `min_complaints`. The test alone would flag 1,100 complaints against a baseline of
//! 1,000 (significant, but no one should be woken for +10%), and a ratio alone flags 2 against
//! 0.5 (four times the baseline, and noise); each condition covers the other's blind spot.
//! A category with no history is taken to have had one complaint a day, so a new problem
//! needs `min_complaints` and a clear margin before it is called a spike.

use crate::HotspotPolicy;

/// The lowest daily rate a baseline is taken to have.
const BASELINE_FLOOR: f64 = 1.0;

/// One category's day against its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeTest {
    /// Complaints on the reported day.
    pub count: i64,
    /// Complaints per day over the baseline days.
    pub baseline_per_day: f64,
    /// The chance of a day at least this busy at the baseline rate.
    pub p_value: f64,
    pub spike: bool,
}

impl SpikeTest {
    /// `baseline_total` complaints over `policy.baseline_days` days before, `count` on the day.
    pub fn new(count: i64, baseline_total: i64, policy: &HotspotPolicy) -> Self {
        let baseline_per_day = baseline_total.max(0) as f64 / policy.baseline_days.max(1) as f64;
        let rate = baseline_per_day.max(BASELINE_FLOOR);
        let p_value = poisson_upper_tail(count, rate);
        let spike = count >= policy.min_complaints
            && count as f64 >= policy.spike_factor * rate
            && p_value < policy.spike_p_value;
        Self { count, baseline_per_day, p_value, spike }
    }
}

/// P(X ≥ k) for X ~ Poisson(rate), summed in log space so that large rates do not underflow.
fn poisson_upper_tail(k: i64, rate: f64) -> f64 {
    if k <= 0 {
        return 1.0;
    }
    if k as f64 <= rate {
        // At or below the mean the upper tail is large and its terms grow before they shrink:
        // the complement of the lower tail, whose k terms are all there is to add, is exact.
        return 1.0 - poisson_lower_tail(k - 1, rate);
    }
    let ln_rate = rate.ln();
    let mut ln_term = -rate + k as f64 * ln_rate - ln_factorial(k);
    let mut total = 0.0;
    let mut i = k;
    loop {
        let term = ln_term.exp();
        total += term;
        if term <= total * 1e-16 || term == 0.0 {
            return total.min(1.0);
        }
        i += 1;
        ln_term += ln_rate - (i as f64).ln();
    }
}

/// P(X ≤ k), each term from the one before it (in logarithms: a large rate would underflow
/// `e^-rate`).
fn poisson_lower_tail(k: i64, rate: f64) -> f64 {
    let ln_rate = rate.ln();
    let mut ln_term = -rate;
    let mut total = ln_term.exp();
    for i in 1..=k {
        ln_term += ln_rate - (i as f64).ln();
        total += ln_term.exp();
    }
    total.min(1.0)
}

fn ln_factorial(n: i64) -> f64 {
    (2..=n).map(|i| (i as f64).ln()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HotspotPolicy {
        HotspotPolicy {
            baseline_days: 7,
            min_complaints: 10,
            spike_factor: 2.0,
            spike_p_value: 0.001,
            recipients: vec![],
        }
    }

    #[test]
    fn the_tail_matches_known_values() {
        // P(X >= 10 | 3): 1 - P(X <= 9) = 0.0011025 (scipy.stats.poisson.sf(9, 3)).
        assert!((poisson_upper_tail(10, 3.0) - 0.001_102_5).abs() < 1e-6);
        assert!((poisson_upper_tail(1, 2.0) - (1.0 - (-2.0f64).exp())).abs() < 1e-12);
        assert_eq!(poisson_upper_tail(0, 5.0), 1.0);
        // A large rate does not underflow: P(X >= 1200 | 1000) is tiny but positive.
        let far = poisson_upper_tail(1200, 1000.0);
        assert!(far > 0.0 && far < 1e-8, "{far}");
    }

    #[test]
    fn a_quiet_category_that_jumps_is_a_spike() {
        // Two a day for a week, then twenty.
        let test = SpikeTest::new(20, 14, &policy());
        assert!(test.spike, "{test:?}");
        assert_eq!(test.baseline_per_day, 2.0);
    }

    #[test]
    fn a_busy_category_that_grows_a_little_is_not() {
        // 1,000 a day, then 1,100: very unlikely by chance, but only 1.1 times the baseline.
        let test = SpikeTest::new(1100, 7000, &policy());
        assert!(test.p_value < 0.001, "{test:?}");
        assert!(!test.spike);
    }

    #[test]
    fn few_complaints_are_never_a_spike() {
        // Nothing for a week, then nine: far above the floor, but below min_complaints.
        assert!(!SpikeTest::new(9, 0, &policy()).spike);
        assert!(SpikeTest::new(10, 0, &policy()).spike);
    }

    #[test]
    fn a_doubling_within_noise_is_not_a_spike() {
        // Eight a day, then sixteen: twice the baseline, but P ≈ 0.009 at that rate.
        let test = SpikeTest::new(16, 56, &policy());
        assert!(test.p_value > 0.001 && !test.spike, "{test:?}");
        // Eight a day, then twenty-four: three times, and P < 0.001.
        assert!(SpikeTest::new(24, 56, &policy()).spike);
    }

    proptest::proptest! {
        /// A busier day is never less of a spike, and a busier baseline never makes one.
        #[test]
        fn the_rule_is_monotone(count in 0i64..400, baseline in 0i64..3000, more in 1i64..50) {
            let policy = policy();
            let test = SpikeTest::new(count, baseline, &policy);
            proptest::prop_assert!((0.0..=1.0).contains(&test.p_value));
            if test.spike {
                proptest::prop_assert!(SpikeTest::new(count + more, baseline, &policy).spike);
            }
            if !test.spike {
                proptest::prop_assert!(!SpikeTest::new(count, baseline + more, &policy).spike);
            }
            proptest::prop_assert!(SpikeTest::new(count + more, baseline, &policy).p_value <= test.p_value + 1e-12);
        }
    }
}
