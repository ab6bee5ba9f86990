//! The pool state the plugin keeps per block, and its root computed natively (the guest computes
//! the same root; `genesis` and `restore` use this one, and the tests check the two agree).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use diverge_plugins::codec::{decode_exact, Decode, Encode};
use diverge_plugins::{blake2b_256, Hash};

use crate::tx::Bytes32;

/// Depth of the note-commitment tree (2^32 notes).
pub const DEPTH: usize = 32;

/// Bytes of the state record the guest loads and stores (`struct pool_state` in `pool.c`):
/// `le64(leaf_count) ++ le64(pool_value) ++ nf_root ++ frontier[32]`.
pub const GUEST_STATE_LEN: usize = 8 + 8 + 32 + DEPTH * 32;

/// The spent nullifiers, as layers: a child block's set is its own insertions over an `Arc` of
/// the parent's, so forks share history and a block costs memory for its own nullifiers only.
/// Lookups walk the layers, so [`NullifierSet::child`] flattens once the chain gets deep.
#[derive(Debug, Default)]
pub struct NullifierSet {
    own: HashSet<Bytes32>,
    parent: Option<Arc<NullifierSet>>,
    depth: u32,
    len: usize,
}

/// Layers beyond this are flattened: bounds a lookup to this many hash probes.
const MAX_LAYERS: u32 = 32;

impl NullifierSet {
    /// Whether `nf` was spent in this set's history.
    pub fn contains(&self, nf: &Bytes32) -> bool {
        let mut layer = Some(self);
        while let Some(l) = layer {
            if l.own.contains(nf) {
                return true;
            }
            layer = l.parent.as_deref();
        }
        false
    }

    /// Spent nullifiers in all layers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was ever spent.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every nullifier, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes32> {
        let mut layers = Vec::new();
        let mut layer = Some(self);
        while let Some(l) = layer {
            layers.push(l);
            layer = l.parent.as_deref();
        }
        layers.into_iter().flat_map(|l| l.own.iter())
    }

    /// The set after adding `added` (disjoint from `parent`: the guest checked that).
    pub fn child(parent: &Arc<NullifierSet>, added: HashSet<Bytes32>) -> NullifierSet {
        let len = parent.len + added.len();
        if parent.depth + 1 >= MAX_LAYERS {
            let mut own: HashSet<Bytes32> = parent.iter().copied().collect();
            own.extend(added);
            return NullifierSet {
                own,
                parent: None,
                depth: 0,
                len,
            };
        }
        NullifierSet {
            own: added,
            parent: Some(parent.clone()),
            depth: parent.depth + 1,
            len,
        }
    }

    /// A flat set of `items`.
    pub fn from_items(items: impl IntoIterator<Item = Bytes32>) -> NullifierSet {
        let own: HashSet<Bytes32> = items.into_iter().collect();
        NullifierSet {
            len: own.len(),
            own,
            parent: None,
            depth: 0,
        }
    }
}

/// The state after some block.
#[derive(Debug, Clone)]
pub struct PoolState {
    /// Notes in the commitment tree.
    pub leaf_count: u64,
    /// Transparent value the pool holds.
    pub pool_value: u64,
    /// Hash chain over every spent nullifier (see `pool.c`).
    pub nf_root: Bytes32,
    /// The commitment tree's frontier: the pending left sibling per level.
    pub frontier: [Bytes32; DEPTH],
    /// Spent nullifiers, for membership.
    pub nullifiers: Arc<NullifierSet>,
}

fn hash_pair(a: &Bytes32, b: &Bytes32) -> Bytes32 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(a);
    buf[32..].copy_from_slice(b);
    blake2b_256(&buf).0
}

/// Roots of empty subtrees by height, computed once.
fn zeros() -> &'static [Bytes32; DEPTH + 1] {
    static ZEROS: OnceLock<[Bytes32; DEPTH + 1]> = OnceLock::new();
    ZEROS.get_or_init(|| {
        let mut z = [[0u8; 32]; DEPTH + 1];
        for h in 0..DEPTH {
            z[h + 1] = hash_pair(&z[h], &z[h]);
        }
        z
    })
}

impl PoolState {
    /// The empty pool.
    pub fn genesis() -> PoolState {
        PoolState {
            leaf_count: 0,
            pool_value: 0,
            nf_root: [0; 32],
            frontier: [[0; 32]; DEPTH],
            nullifiers: Arc::new(NullifierSet::default()),
        }
    }

    /// Root of the commitment tree (32 hashes, from the frontier).
    pub fn tree_root(&self) -> Bytes32 {
        let z = zeros();
        let mut node = z[0];
        let mut size = self.leaf_count;
        for (left, zero) in self.frontier.iter().zip(z) {
            node = if size & 1 == 1 {
                hash_pair(left, &node)
            } else {
                hash_pair(&node, zero)
            };
            size >>= 1;
        }
        node
    }

    /// `H(tree_root ++ nf_root ++ le64(leaf_count) ++ le64(pool_value))`, as the guest computes it.
    pub fn root(&self) -> Hash {
        let mut buf = [0u8; 80];
        buf[..32].copy_from_slice(&self.tree_root());
        buf[32..64].copy_from_slice(&self.nf_root);
        buf[64..72].copy_from_slice(&self.leaf_count.to_le_bytes());
        buf[72..].copy_from_slice(&self.pool_value.to_le_bytes());
        blake2b_256(&buf)
    }

    /// The record the guest loads.
    pub fn guest_record(&self) -> [u8; GUEST_STATE_LEN] {
        let mut out = [0u8; GUEST_STATE_LEN];
        out[..8].copy_from_slice(&self.leaf_count.to_le_bytes());
        out[8..16].copy_from_slice(&self.pool_value.to_le_bytes());
        out[16..48].copy_from_slice(&self.nf_root);
        for (i, f) in self.frontier.iter().enumerate() {
            out[48 + 32 * i..80 + 32 * i].copy_from_slice(f);
        }
        out
    }

    /// The state the guest stored, over `nullifiers`.
    pub fn from_guest_record(
        rec: &[u8; GUEST_STATE_LEN],
        nullifiers: Arc<NullifierSet>,
    ) -> PoolState {
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&rec[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let mut nf_root = [0u8; 32];
        nf_root.copy_from_slice(&rec[16..48]);
        let mut frontier = [[0u8; 32]; DEPTH];
        for (i, f) in frontier.iter_mut().enumerate() {
            f.copy_from_slice(&rec[48 + 32 * i..80 + 32 * i]);
        }
        PoolState {
            leaf_count: word(0),
            pool_value: word(8),
            nf_root,
            frontier,
            nullifiers,
        }
    }

    /// Bytes a validator must hold for this state: the nullifier set plus the fixed record.
    /// (Note commitments cost nothing here: the frontier replaces the leaves.)
    pub fn size_bytes(&self) -> usize {
        GUEST_STATE_LEN + 32 * self.nullifiers.len()
    }
}

/// One state in a snapshot: the fixed record and the sorted nullifiers (exec-proof's
/// snapshots are the same records).
#[derive(Debug, Encode, Decode)]
pub struct SnapshotState {
    pub root: Hash,
    pub leaf_count: u64,
    pub pool_value: u64,
    pub nf_root: Bytes32,
    pub frontier: Vec<Bytes32>,
    pub nullifiers: Vec<Bytes32>,
}

impl SnapshotState {
    /// The record of `s` under `root`.
    pub fn of(root: Hash, s: &PoolState) -> SnapshotState {
        // Sorted: the snapshot of one set of states is one byte string.
        let mut nullifiers: Vec<Bytes32> = s.nullifiers.iter().copied().collect();
        nullifiers.sort_unstable();
        SnapshotState {
            root,
            leaf_count: s.leaf_count,
            pool_value: s.pool_value,
            nf_root: s.nf_root,
            frontier: s.frontier.to_vec(),
            nullifiers,
        }
    }

    /// The state, or `None` if the frontier is not [`DEPTH`] nodes.
    pub fn into_state(self) -> Option<PoolState> {
        let frontier: [Bytes32; DEPTH] = self.frontier.try_into().ok()?;
        Some(PoolState {
            leaf_count: self.leaf_count,
            pool_value: self.pool_value,
            nf_root: self.nf_root,
            frontier,
            nullifiers: Arc::new(NullifierSet::from_items(self.nullifiers)),
        })
    }
}

/// States by root, as both exec plugins keep them.
pub type States = HashMap<Hash, Arc<PoolState>>;

/// The snapshot bytes of `states`. States that share history are written out in full each: a
/// snapshot is taken after retain, when few states remain.
pub fn encode_snapshot(states: &States) -> Vec<u8> {
    let mut records: Vec<SnapshotState> = states
        .iter()
        .map(|(root, s)| SnapshotState::of(*root, s))
        .collect();
    records.sort_by_key(|s| s.root);
    records.encode()
}

/// The states of snapshot bytes, each checked against its root.
pub fn decode_snapshot(bytes: &[u8]) -> Result<States, String> {
    let records: Vec<SnapshotState> = decode_exact(bytes).map_err(|e| format!("snapshot: {e}"))?;
    let mut states = HashMap::new();
    for s in records {
        let root = s.root;
        let state = s
            .into_state()
            .ok_or_else(|| format!("snapshot state {root}: frontier is not {DEPTH} nodes"))?;
        // The nullifier set is not in the root (only its hash chain is), so a corrupted set
        // would go unnoticed here; the record fields are checked.
        if state.root() != root {
            return Err(format!(
                "snapshot state {root}: fields hash to {}",
                state.root()
            ));
        }
        states.insert(root, Arc::new(state));
    }
    Ok(states)
}
