//! The host's workload generator: deterministic shielded-pool transactions from a seed, in the
//! payload format every exec plugin reads (specified in `exec-reexec/src/tx.rs`; the host links
//! no plugin crate, so it writes the bytes itself). Every node and variant fed the same seed and
//! sizes gets the same transactions, double-spend attempts included.
//!
//! Notes come from a seeded counter: `secret = H("note" ++ le64(seed) ++ le64(i))`,
//! `nullifier = H("nf" ++ secret)`, `commitment = H("cm" ++ secret)`; the generator tracks its
//! unspent notes so its honest transactions stay valid across blocks applied in order.

use diverge_plugins::blake2b_256;
use diverge_plugins::codec::{Compact, Encode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

type Bytes32 = [u8; 32];

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
    /// Per mille that re-reveal a spent nullifier (in-block or cross-block double spends).
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

/// What kind of transaction the generator made, for the caller's tallies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// Honest transfer.
    Transfer,
    /// Deposit.
    Deposit,
    /// Withdrawal.
    Withdraw,
    /// Planted double spend (the plugin must reject it).
    DoubleSpend,
}

/// A generated block: its payload and what each transaction is.
#[derive(Clone, Debug)]
pub struct Block {
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// One kind per transaction.
    pub kinds: Vec<TxKind>,
}

/// The generator.
#[derive(Debug)]
pub struct Generator {
    config: WorkloadConfig,
    rng: ChaCha20Rng,
    next_note: u64,
    unspent: Vec<Bytes32>,
    spent: Vec<Bytes32>,
    pool: u64,
}

/// Most recently spent nullifiers kept for cross-block double-spend attempts.
const SPENT_WINDOW: usize = 4096;

fn tagged(tag: &[u8], data: &[u8]) -> Bytes32 {
    let mut buf = Vec::with_capacity(tag.len() + data.len());
    buf.extend_from_slice(tag);
    buf.extend_from_slice(data);
    blake2b_256(&buf).0
}

fn put_list(out: &mut Vec<u8>, items: &[Bytes32]) {
    out.extend(items.to_vec().encode());
}

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

    fn outputs(&mut self, keep: bool) -> Vec<Bytes32> {
        (0..self.config.outputs.max(1))
            .map(|_| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&self.config.seed.to_le_bytes());
                id[8..].copy_from_slice(&self.next_note.to_le_bytes());
                self.next_note += 1;
                let secret = tagged(b"note", &id);
                if keep {
                    self.unspent.push(tagged(b"nf", &secret));
                }
                tagged(b"cm", &secret)
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
    pub fn block(&mut self, txs: usize) -> Block {
        let mut payload = Compact(txs as u64).encode();
        let mut kinds = Vec::with_capacity(txs);
        let mut block_spent: Vec<Bytes32> = Vec::new();
        let c = self.config.clone();
        let inputs = c.inputs.max(1);
        for _ in 0..txs {
            let r = self.rng.gen_range(0..1000u32);
            if self.unspent.len() < inputs || self.pool < 16 || r < c.deposit_permille {
                let value: u64 = self.rng.gen_range(1_000..100_000);
                self.pool += value;
                let from: Bytes32 = self.rng.gen();
                payload.push(1);
                put_list(&mut payload, &self.outputs(true));
                payload.extend_from_slice(&value.to_le_bytes());
                payload.extend_from_slice(&from);
                kinds.push(TxKind::Deposit);
            } else if r < c.deposit_permille + c.double_spend_permille
                && !(block_spent.is_empty() && self.spent.is_empty())
            {
                let in_block = !block_spent.is_empty() && (self.spent.is_empty() || r % 2 == 0);
                let nf = if in_block {
                    block_spent[self.rng.gen_range(0..block_spent.len())]
                } else {
                    self.spent[self.rng.gen_range(0..self.spent.len())]
                };
                payload.push(0);
                put_list(&mut payload, &[nf]);
                put_list(&mut payload, &self.outputs(false));
                payload.extend_from_slice(&1u64.to_le_bytes());
                kinds.push(TxKind::DoubleSpend);
            } else if r < c.deposit_permille + c.double_spend_permille + c.withdraw_permille {
                let nullifiers = self.take_unspent(1);
                block_spent.extend_from_slice(&nullifiers);
                let value = self.rng.gen_range(1..=self.pool / 4);
                self.pool -= value;
                let to: Bytes32 = self.rng.gen();
                payload.push(2);
                put_list(&mut payload, &nullifiers);
                put_list(&mut payload, &[]);
                payload.extend_from_slice(&value.to_le_bytes());
                payload.extend_from_slice(&to);
                kinds.push(TxKind::Withdraw);
            } else {
                let nullifiers = self.take_unspent(inputs);
                block_spent.extend_from_slice(&nullifiers);
                self.pool -= 1;
                payload.push(0);
                put_list(&mut payload, &nullifiers);
                put_list(&mut payload, &self.outputs(true));
                payload.extend_from_slice(&1u64.to_le_bytes());
                kinds.push(TxKind::Transfer);
            }
        }
        self.spent.extend_from_slice(&block_spent);
        if self.spent.len() > SPENT_WINDOW {
            let excess = self.spent.len() - SPENT_WINDOW;
            self.spent.drain(..excess);
        }
        Block { payload, kinds }
    }
}

/// Decodes a receipt in exec-reexec's format (`natural(n) ++ result_u8{n} ++ le64(gas)`), for
/// the per-transaction tallies the CLI prints; `None` for any other plugin's receipt.
pub fn receipt_results(receipt: &[u8]) -> Option<Vec<u8>> {
    use diverge_plugins::codec::decode_exact;
    let (results, _gas): (Vec<u8>, u64) = decode_exact(receipt).ok()?;
    Some(results)
}
