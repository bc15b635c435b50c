//! The fuzz target's inputs as a regular test: the seed scripts, the seed corpus checked in
//! under `crates/engine/fuzz/seeds`, and a few thousand pseudo-random inputs (some pure
//! noise, most mutated seeds) from a fixed-seed generator, each against a fresh engine and
//! all of them against one long-lived engine that must still serve afterwards.
//!
//! `FUZZ_WRITE_SEEDS=1 cargo test -p workflow-engine --test fuzz_seeds` rewrites the seed
//! corpus from `workflow_engine::fuzzing::seed_inputs`.

use std::path::PathBuf;

use workflow_engine::fuzzing::{Session, run_requests, seed_inputs};

const RANDOM_INPUTS: usize = 500;
const MUTATED_INPUTS: usize = 1500;

/// xorshift64*: tiny, deterministic, good enough to pick bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds")
}

/// The seed scripts plus whatever the checked-in corpus holds.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = seed_inputs().into_iter().map(|(_, s)| s).collect();
    if let Ok(entries) = std::fs::read_dir(seed_dir()) {
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        seeds.extend(files.iter().filter_map(|f| std::fs::read(f).ok()));
    }
    seeds
}

fn noise(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(512);
    (0..len).map(|_| rng.byte()).collect()
}

/// A seed with a few bytes changed, inserted, removed or spliced from another seed.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut input = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(4) {
            0 if at < input.len() => input[at] = rng.byte(),
            1 => input.insert(at, rng.byte()),
            2 if at < input.len() => {
                input.remove(at);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from + 1);
                input.splice(at..at, other[from..from + len].iter().copied());
            }
        }
    }
    input
}

#[test]
fn write_seed_corpus_when_asked() {
    if std::env::var_os("FUZZ_WRITE_SEEDS").is_none() {
        return;
    }
    let dir = seed_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, input) in seed_inputs() {
        std::fs::write(dir.join(name), input).unwrap();
    }
}

#[test]
fn seeds_and_random_inputs_do_not_panic_the_engine() {
    let seeds = seeds();
    let mut rng = Rng(0x5eed_f00d_cafe_d00d);
    let mut inputs = seeds.clone();
    inputs.extend((0..RANDOM_INPUTS).map(|_| noise(&mut rng)));
    inputs.extend((0..MUTATED_INPUTS).map(|_| mutate(&mut rng, &seeds)));

    for input in &inputs {
        run_requests(input);
    }

    // The same inputs against one engine, whose state accumulates.
    let mut session = Session::new();
    for input in inputs.iter().step_by(16) {
        session.run(input);
    }
    assert!(session.serves(), "the long-lived engine stopped serving");
    session.finish();
}
