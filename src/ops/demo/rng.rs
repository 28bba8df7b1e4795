//! The generator: splitmix64, small and the same everywhere, so a seed gives the same people.

#[derive(Clone, Copy)]
pub(super) enum Stream {
    Person = 1,
    Customers = 2,
    Booking = 3,
    Allocation = 4,
}

#[derive(Clone, Debug)]
pub(super) struct Rng(u64);

impl Rng {
    /// An independent generator for one item (a person, a booking) of one stream.
    pub(super) fn derive(seed: u64, stream: Stream, index: u64) -> Self {
        let mut r = Rng(seed ^ (stream as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let base = r.next();
        Rng(base ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi` (lo < hi).
    pub(super) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// The index of an item drawn by weight.
    pub(super) fn weighted<T>(&mut self, items: &[(u32, T)]) -> usize {
        let total: u64 = items.iter().map(|(w, _)| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (i, (w, _)) in items.iter().enumerate() {
            if x < u64::from(*w) {
                return i;
            }
            x -= u64::from(*w);
        }
        items.len() - 1
    }
}
