//! A deterministic workload generator for tests and benchmarks: the same seed gives the same
//! blocks. The host has its own copy (`host/src/workload.rs`, since the host links no plugin);
//! both follow the format in [`crate::tx`].
//!
//! Notes are derived from a seeded counter: `secret = H("note" ++ seed ++ i)`,
//! `nullifier = H("nf" ++ secret)`, `commitment = H("cm" ++ secret)`. The guest cannot link a
//! nullifier to its note (that would take a zero-knowledge proof, out of scope for
//! re-execution); the generator keeps them consistent so honest transactions are valid.

use diverge_plugins::blake2b_256;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::tx::{Bytes32, Tx};

/// Shape of the generated load.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// RNG seed.
    pub seed: u64,
    /// Notes a transfer spends.
    pub inputs: usize,
    /// Notes a transfer or deposit creates.
    pub outputs: usize,
    /// Per mille of transactions that are deposits (also forced while too few notes exist).
    pub deposit_permille: u32,
    /// Per mille that are withdrawals.
    pub withdraw_permille: u32,
    /// Per mille that are double-spend attempts (half in-block, half cross-block).
    pub double_spend_permille: u32,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            seed: 1,
            inputs: 2,
            outputs: 2,
            deposit_permille: 100,
            withdraw_permille: 50,
            double_spend_permille: 50,
        }
    }
}

/// The generator: tracks which of its notes are unspent, so honest transactions stay valid
/// across blocks (assuming every block it made was applied, in order).
#[derive(Debug)]
pub struct Generator {
    config: WorkloadConfig,
    rng: ChaCha20Rng,
    next_note: u64,
    unspent: Vec<Bytes32>,
    spent: Vec<Bytes32>,
    pool: u64,
}

fn tagged(tag: &[u8], data: &[u8]) -> Bytes32 {
    let mut buf = Vec::with_capacity(tag.len() + data.len());
    buf.extend_from_slice(tag);
    buf.extend_from_slice(data);
    blake2b_256(&buf).0
}

/// Most recently spent nullifiers kept for cross-block double-spend attempts.
const SPENT_WINDOW: usize = 4096;

impl Generator {
    /// A generator at genesis.
    pub fn new(config: WorkloadConfig) -> Generator {
        Generator {
            rng: ChaCha20Rng::seed_from_u64(config.seed),
            config,
            next_note: 0,
            unspent: Vec::new(),
            spent: Vec::new(),
            pool: 0,
        }
    }

    fn new_note(&mut self) -> (Bytes32, Bytes32) {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.config.seed.to_le_bytes());
        id[8..].copy_from_slice(&self.next_note.to_le_bytes());
        self.next_note += 1;
        let secret = tagged(b"note", &id);
        (tagged(b"nf", &secret), tagged(b"cm", &secret))
    }

    fn outputs(&mut self, keep: bool) -> Vec<Bytes32> {
        (0..self.config.outputs.max(1))
            .map(|_| {
                let (nf, cm) = self.new_note();
                if keep {
                    self.unspent.push(nf);
                }
                cm
            })
            .collect()
    }

    fn take_unspent(&mut self, n: usize) -> Vec<Bytes32> {
        (0..n)
            .map(|_| {
                let i = self.rng.gen_range(0..self.unspent.len());
                self.unspent.swap_remove(i)
            })
            .collect()
    }

    /// The next block of `txs` transactions.
    pub fn block(&mut self, txs: usize) -> Vec<Tx> {
        let mut block = Vec::with_capacity(txs);
        let mut block_spent: Vec<Bytes32> = Vec::new();
        let c = self.config.clone();
        let inputs = c.inputs.max(1);
        for _ in 0..txs {
            let r = self.rng.gen_range(0..1000u32);
            let tx = if self.unspent.len() < inputs || self.pool < 16 || r < c.deposit_permille {
                let value = self.rng.gen_range(1_000..100_000);
                self.pool += value;
                let from: Bytes32 = self.rng.gen();
                Tx::Deposit {
                    commitments: self.outputs(true),
                    value,
                    from,
                }
            } else if r < c.deposit_permille + c.double_spend_permille
                && !(block_spent.is_empty() && self.spent.is_empty())
            {
                // Re-reveal a spent nullifier: the guest must reject this.
                let in_block = !block_spent.is_empty() && (self.spent.is_empty() || r % 2 == 0);
                let nf = if in_block {
                    block_spent[self.rng.gen_range(0..block_spent.len())]
                } else {
                    self.spent[self.rng.gen_range(0..self.spent.len())]
                };
                Tx::Transfer {
                    nullifiers: vec![nf],
                    commitments: self.outputs(false),
                    fee: 1,
                }
            } else if r < c.deposit_permille + c.double_spend_permille + c.withdraw_permille {
                let nullifiers = self.take_unspent(1);
                block_spent.extend_from_slice(&nullifiers);
                let value = self.rng.gen_range(1..=self.pool / 4);
                self.pool -= value;
                let to: Bytes32 = self.rng.gen();
                Tx::Withdraw {
                    nullifiers,
                    commitments: Vec::new(),
                    value,
                    to,
                }
            } else {
                let nullifiers = self.take_unspent(inputs);
                block_spent.extend_from_slice(&nullifiers);
                self.pool -= 1;
                Tx::Transfer {
                    nullifiers,
                    commitments: self.outputs(true),
                    fee: 1,
                }
            };
            block.push(tx);
        }
        self.spent.extend_from_slice(&block_spent);
        if self.spent.len() > SPENT_WINDOW {
            let excess = self.spent.len() - SPENT_WINDOW;
            self.spent.drain(..excess);
        }
        block
    }
}
