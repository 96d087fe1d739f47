//! Seeded schedule shuffling: a small deterministic generator and the
//! permutations it drives.
//!
//! With [`Builder::shuffle`](crate::Builder::shuffle) (or `TASKLOOP_SEED`),
//! the executor permutes the ready tasks of each *generation* (the tasks that
//! were in the run queue when the previous generation had all been polled),
//! and the timer driver permutes the timers that fire at the same tick. The
//! same seed gives the same permutations, so on the virtual clock (where
//! nothing else is nondeterministic) it replays the same schedule.
//!
//! # Ground rules
//!
//! * Loop thread only: the state is a `Cell`.
//! * Nothing outside these two permutations draws from a generator, so a
//!   schedule is a function of the seed and the program alone.

use std::cell::Cell;
use std::collections::VecDeque;

/// The environment variable read by `Builder::new()` for a seed.
pub(crate) const SEED_VAR: &str = "TASKLOOP_SEED";

/// SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, every seed
/// (0 included) gives a full-period stream.
#[derive(Debug)]
pub(crate) struct Rng {
    /// The generator's state.
    state: Cell<u64>,
}

impl Rng {
    /// A generator for `seed`; `stream` separates the executor's draws from
    /// the timers', so that one's use does not shift the other's.
    pub(crate) fn new(seed: u64, stream: u64) -> Rng {
        Rng {
            state: Cell::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)),
        }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&self) -> u64 {
        let s = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by Lemire's multiply-shift (its bias,
    /// below 2^-32 for the lengths used here, does not matter for testing).
    pub(crate) fn below(&self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Permutes `items` uniformly (Fisher-Yates).
    pub(crate) fn shuffle<T>(&self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The executor's side: the run queue is permuted one generation at a time.
#[derive(Debug)]
pub(crate) struct RunOrder {
    /// Draws for the run queue.
    rng: Rng,
    /// Tasks of the current (permuted) generation still at the front of the
    /// run queue; 0 when the next pop starts a new generation.
    left: Cell<usize>,
}

impl RunOrder {
    pub(crate) fn new(seed: u64) -> RunOrder {
        RunOrder {
            rng: Rng::new(seed, 1),
            left: Cell::new(0),
        }
    }

    /// Pops the next task: when a generation is over, the tasks queued
    /// since are permuted first. Tasks queued during a generation stay
    /// behind it, so a task that yields still runs after every task that
    /// was ready when it yielded.
    pub(crate) fn pop<T>(&self, queue: &mut VecDeque<T>) -> Option<T> {
        if self.left.get() == 0 || self.left.get() > queue.len() {
            self.rng.shuffle(queue.make_contiguous());
            self.left.set(queue.len());
        }
        let next = queue.pop_front()?;
        self.left.set(self.left.get() - 1);
        Some(next)
    }
}

/// Parses a seed as `TASKLOOP_SEED` spells it: decimal or `0x` hexadecimal.
pub(crate) fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let (a, b, c) = (Rng::new(7, 1), Rng::new(7, 1), Rng::new(7, 2));
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn shuffle_is_a_permutation_and_reaches_every_order() {
        let rng = Rng::new(0, 0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let mut v = [0, 1, 2, 3];
            rng.shuffle(&mut v);
            let mut sorted = v;
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2, 3]);
            seen.insert(v);
        }
        assert_eq!(seen.len(), 24, "all 4! orders");
    }

    #[test]
    fn consecutive_seeds_give_independent_first_draws() {
        // The first permutation of two ready tasks, over 1000 seeds: about
        // half swap them (a binomial 500 ± 16; 400..600 is over 6 sigma).
        let swapped = (0..1000)
            .filter(|&seed| {
                let mut v = [0, 1];
                Rng::new(seed, 1).shuffle(&mut v);
                v == [1, 0]
            })
            .count();
        assert!((400..600).contains(&swapped), "{swapped}");
    }

    #[test]
    fn run_order_keeps_later_arrivals_behind_the_generation() {
        let order = RunOrder::new(3);
        let mut q: VecDeque<u32> = (0..10).collect();
        let mut first = Vec::new();
        for _ in 0..10 {
            first.push(order.pop(&mut q).unwrap());
            q.push_back(100 + first.len() as u32);
        }
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert!(q.iter().all(|&x| x >= 100), "the next generation is behind");
        assert_eq!(order.pop(&mut VecDeque::<u32>::new()), None);
    }

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0x2A "), Some(42));
        assert_eq!(parse_seed("forty-two"), None);
    }
}
