//! The node's disk: blocks, the finalized pointer with its justification, and the plugins'
//! snapshots, in one redb file (embedded, ACID, crash-safe by copy-on-write commits).
//!
//! Every block is written before the node acts on it, and the finalized pointer moves in the
//! same transaction as the snapshots taken right after that finalization, so a node killed at
//! any instant restarts from a consistent finalized state and loses no finalized block; what
//! came after is re-checked from the stored blocks and then synced from peers.

use std::path::Path;

use diverge_plugins::codec::decode_exact;
use diverge_plugins::Hash;
use redb::{Database, ReadableTable, TableDefinition};

use crate::node::wire::BlockMsg;

const BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb refused (I/O, corruption, another process holding the file).
    #[error("store: {0}")]
    Db(String),
    /// Bytes on disk do not decode.
    #[error("store: corrupt entry {0}")]
    Corrupt(String),
}

fn dberr<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// What a restart starts from.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// Last finalized block, if any was.
    pub finalized: Option<Hash>,
    /// Its justification.
    pub justification: Vec<u8>,
    /// The consensus plugin's snapshot at that finalization.
    pub consensus: Vec<u8>,
    /// The exec plugin's snapshot at that finalization.
    pub exec: Vec<u8>,
    /// The consensus plugin's journal (its votes), written before each was sent; survives
    /// finalizations, empty if none was written.
    pub journal: Vec<u8>,
    /// Every stored block.
    pub blocks: Vec<BlockMsg>,
}

/// The store.
pub struct Store {
    db: Database,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(dberr)?;
        }
        let db = Database::create(path).map_err(dberr)?;
        // Create the tables so reads of a fresh store find them.
        let txn = db.begin_write().map_err(dberr)?;
        txn.open_table(BLOCKS).map_err(dberr)?;
        txn.open_table(META).map_err(dberr)?;
        txn.commit().map_err(dberr)?;
        Ok(Store { db })
    }

    /// Stores an encoded block.
    pub fn put_block(&self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut t = txn.open_table(BLOCKS).map_err(dberr)?;
            t.insert(&hash.0[..], bytes).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)
    }

    /// Moves the finalized pointer, with the snapshots taken after it, atomically.
    pub fn put_finalized(
        &self,
        hash: &Hash,
        justification: &[u8],
        consensus: &[u8],
        exec: &[u8],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut t = txn.open_table(META).map_err(dberr)?;
            t.insert("finalized", &hash.0[..]).map_err(dberr)?;
            t.insert("justification", justification).map_err(dberr)?;
            t.insert("snapshot.consensus", consensus).map_err(dberr)?;
            t.insert("snapshot.exec", exec).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)
    }

    /// Replaces the consensus journal; committed (fsynced) before it returns, so a vote
    /// sent after this call is on disk.
    pub fn put_journal(&self, journal: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut t = txn.open_table(META).map_err(dberr)?;
            t.insert("journal.consensus", journal).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)
    }

    /// Everything a restart needs.
    pub fn load(&self) -> Result<Stored, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let meta = txn.open_table(META).map_err(dberr)?;
        let get = |k: &str| -> Result<Vec<u8>, StoreError> {
            Ok(meta
                .get(k)
                .map_err(dberr)?
                .map(|v| v.value().to_vec())
                .unwrap_or_default())
        };
        let finalized = match get("finalized")?.as_slice() {
            [] => None,
            b => {
                Some(Hash(b.try_into().map_err(|_| {
                    StoreError::Corrupt("finalized pointer".into())
                })?))
            }
        };
        let blocks_t = txn.open_table(BLOCKS).map_err(dberr)?;
        let mut blocks = Vec::new();
        for entry in blocks_t.iter().map_err(dberr)? {
            let (k, v) = entry.map_err(dberr)?;
            let msg: BlockMsg = decode_exact(v.value()).map_err(|e| {
                StoreError::Corrupt(format!("block {}: {e}", hex::encode(k.value())))
            })?;
            blocks.push(msg);
        }
        Ok(Stored {
            finalized,
            justification: get("justification")?,
            consensus: get("snapshot.consensus")?,
            exec: get("snapshot.exec")?,
            journal: get("journal.consensus")?,
            blocks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diverge_plugins::codec::Encode;
    use diverge_plugins::Header;

    #[test]
    fn blocks_and_finality_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.redb");
        let msg = BlockMsg {
            header: Header {
                slot: 3,
                ..Header::default()
            },
            payload: vec![1, 2, 3],
            receipt: vec![],
            proof: vec![],
        };
        let h = msg.header.hash();
        {
            let s = Store::open(&path).expect("open");
            assert!(s.load().expect("load").finalized.is_none());
            s.put_block(&h, &msg.encode()).expect("put");
            s.put_journal(b"old votes").expect("journal");
            s.put_finalized(&h, b"j", b"c", b"e").expect("fin");
            s.put_journal(b"votes").expect("journal");
        }
        let s = Store::open(&path).expect("reopen");
        let st = s.load().expect("load");
        assert_eq!(st.finalized, Some(h));
        assert_eq!(st.blocks, vec![msg]);
        assert_eq!(
            (st.justification, st.consensus, st.exec),
            (b"j".to_vec(), b"c".to_vec(), b"e".to_vec())
        );
        // The last journal wins, and a finalization does not clear it.
        assert_eq!(st.journal, b"votes".to_vec());
    }
}
