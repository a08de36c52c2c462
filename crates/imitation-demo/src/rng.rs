//! A tiny seeded pseudo-random number generator (SplitMix64).
//!
//! The demo needs reproducible randomness and nothing cryptographic, so a
//! 64-bit SplitMix generator is enough and saves a dependency. Independent
//! streams (one per step, per episode, per ES iteration) come from
//! [`Rng::derive`], so adding episodes to one stream never shifts another.

/// A SplitMix64 generator: fast, 64 bits of state, good statistical quality
/// for simulation work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

/// Well-known odd constants used to separate streams.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const STREAM_MIX: u64 = 0xD1B5_4A32_D192_ED03;

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// An independent generator for item `index` of stream `stream` under
    /// `seed`. The same triple always gives the same generator.
    pub fn derive(seed: u64, stream: u64, index: u64) -> Self {
        let a = Rng::new(seed).next_u64();
        let b = Rng::new(a ^ stream.wrapping_mul(STREAM_MIX)).next_u64();
        let c = Rng::new(b ^ index.wrapping_mul(GOLDEN)).next_u64();
        Rng::new(c)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// A standard normal sample (Box–Muller; one of the pair is discarded to
    /// keep the generator's state a single integer).
    pub fn normal(&mut self) -> f64 {
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in `0..n` (`n > 0`), by multiply-shift (no modulo bias
    /// worth mentioning at these sizes).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut s1 = Rng::derive(1, 2, 3);
        let mut s2 = Rng::derive(1, 2, 4);
        let mut s3 = Rng::derive(1, 3, 3);
        let x = s1.next_u64();
        assert_ne!(x, s2.next_u64());
        assert_ne!(x, s3.next_u64());
        assert_eq!(Rng::derive(1, 2, 3).next_u64(), x);
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut rng = Rng::new(7);
        let n = 20_000;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for _ in 0..n {
            let x = rng.normal();
            sum += x;
            sum_sq += x * x;
        }
        let mean = sum / n as f64;
        let var = sum_sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");

        let u: f64 = (0..n).map(|_| rng.next_f64()).sum::<f64>() / n as f64;
        assert!((u - 0.5).abs() < 0.02, "uniform mean {u}");
        assert!((0..1000).all(|_| rng.below(3) < 3));
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = Rng::new(3);
        let mut v: Vec<usize> = (0..50).collect();
        rng.shuffle(&mut v);
        assert_ne!(v, (0..50).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
    }
}
