//! What the criterion benchmarks share: test-mode detection, a deterministic generator and the
//! runtimes they measure on.

use std::cell::Cell;

use tokio::runtime::Runtime;

/// Criterion runs benchmarks only under `cargo bench` (which passes `--bench`); under
/// `cargo test --benches` it runs each once as a test, and so do we, on tiny data.
pub(crate) fn bench_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// A small deterministic generator (xorshift64*), so every run asks the same questions.
pub(crate) struct Rng(Cell<u64>);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(Cell::new(seed.max(1)))
    }

    /// Uniform-enough in `0..n` (`n > 0`).
    pub(crate) fn below(&self, n: u64) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    /// A random element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub(crate) fn current_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
