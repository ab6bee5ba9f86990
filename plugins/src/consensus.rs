//! The consensus axis: block authorship (who seals which slot) and finality, as a sans-IO
//! state machine driven by [`Event`]s and answering with [`Action`]s.
//!
//! The host owns the clock, the network and storage. It turns slot boundaries, timer expiries,
//! peer messages and block-pipeline progress into events; the plugin answers with messages to
//! send, blocks to author, blocks to finalize, timers to set and misbehaviour to report. Because
//! nothing else gets in, the same plugin replays identically in the simulator.

use crate::codec::{Decode, Encode};
use crate::error::PluginError;
use crate::types::{Hash, Header, Slot, ValidatorIndex};

/// Host time in microseconds since genesis (wall clock in a node, virtual in the simulator).
pub type Time = u64;

/// Something the host tells the consensus plugin.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// Slot `slot` started. The plugin decides whether this node authors in it.
    Tick {
        /// The slot that just started.
        slot: Slot,
    },
    /// A timer set by [`Action::SetTimer`] expired.
    Timer {
        /// The id the plugin chose.
        id: u64,
    },
    /// Bytes from another validator (the host authenticated the sender).
    Message {
        /// Sender's validator index.
        from: ValidatorIndex,
        /// The plugin's own message encoding.
        bytes: Vec<u8>,
    },
    /// A block whose seal verified was stored (by this node's authoring or from a peer).
    BlockImported {
        /// Its header.
        header: Header,
    },
    /// This node's shard of the block checked against the commitment: it is available here.
    BlockAvailable {
        /// The block.
        hash: Hash,
    },
    /// The exec plugin's verdict on the block (the audit gate before voting).
    BlockValidated {
        /// The block.
        hash: Hash,
        /// Whether it validated.
        valid: bool,
    },
    /// A finality proof received during sync, to be checked and applied.
    Justification {
        /// The block it finalizes.
        hash: Hash,
        /// The proof, in the plugin's encoding.
        bytes: Vec<u8>,
    },
    /// After a restart: the last [`Action::Journal`] this plugin stored, delivered once, after
    /// [`Consensus::restore`] and before any other event, so what it signed before the crash
    /// is known again before it signs anything new.
    Journal {
        /// The journal bytes, as the plugin wrote them.
        bytes: Vec<u8>,
    },
}

/// Something the consensus plugin asks the host to do.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Action {
    /// Send bytes to one validator.
    Send {
        /// Recipient.
        to: ValidatorIndex,
        /// Payload.
        bytes: Vec<u8>,
    },
    /// Send bytes to every validator.
    Broadcast {
        /// Payload.
        bytes: Vec<u8>,
    },
    /// Author a block on `parent` in `slot`: the host executes the payload, encodes it for DA,
    /// fills a header and hands it back through [`Consensus::seal`].
    Author {
        /// Slot to author in.
        slot: Slot,
        /// Parent block chosen by fork choice.
        parent: Hash,
    },
    /// The best (fork-choice) head changed.
    BestBlock {
        /// New best head.
        hash: Hash,
    },
    /// `hash` and its ancestors are final.
    Finalize {
        /// The finalized block.
        hash: Hash,
        /// Its slot.
        slot: Slot,
        /// Proof a light client can check with [`Consensus::verify_justification`].
        justification: Vec<u8>,
    },
    /// Deliver [`Event::Timer`] with `id` at time `at`.
    SetTimer {
        /// Plugin-chosen id.
        id: u64,
        /// When, in host time.
        at: Time,
    },
    /// A validator misbehaved; `evidence` lets anyone verify it.
    Misbehaviour {
        /// The offender.
        offender: ValidatorIndex,
        /// Short name of the offence (e.g. `grandpa.prevote.equivocation`).
        kind: String,
        /// Transferable evidence in the plugin's encoding.
        evidence: Vec<u8>,
    },
    /// A structured event for the node's log and reports (e.g. per-round finality telemetry).
    /// A `work` field (`{"consensus.ticket_verify": 2}`) reports costly work done inside the
    /// call that produced it, by the cost model's call keys; the simulator charges it.
    Telemetry {
        /// Dotted event name, e.g. `consensus.grandpa.round`.
        name: String,
        /// Fields as a JSON object.
        fields_json: String,
    },
    /// Store `bytes` durably as this plugin's journal, replacing the previous one, before any
    /// later action of the same reply is carried out (write-ahead). For what must survive a
    /// crash between finalizations: the votes a voter signed. A vote sent and then forgotten
    /// would be signed again differently after a restart, an equivocation. Handed back as
    /// [`Event::Journal`].
    Journal {
        /// Plugin-defined bytes (keep them small: written on every vote).
        bytes: Vec<u8>,
    },
    /// A message named a block this node does not have (a vote's target): ask `from` for it.
    /// The host's sync normally follows peers' best heads only, so a block on a branch nobody
    /// builds on any more would otherwise never arrive, and votes for it never count here.
    RequestBlock {
        /// The block.
        hash: Hash,
        /// Who to ask (the sender of the message that named it).
        from: ValidatorIndex,
    },
}

/// What a valid seal says about a header.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SealInfo {
    /// The validator that sealed it.
    pub author: ValidatorIndex,
    /// Sealed with a ticket (Safrole's anonymous path) rather than a fallback key; fork choice
    /// counts these (GP 19.4).
    pub ticketed: bool,
}

/// A consensus engine (Safrole + GRANDPA, Safrole + single-slot finality, ...).
pub trait Consensus: Send {
    /// Feeds one event at host time `now`; returns what the host must do.
    fn on_event(&mut self, now: Time, event: Event) -> Result<Vec<Action>, PluginError>;

    /// Completes an unsealed header the host built after [`Action::Author`]: fills the digest
    /// and the seal.
    fn seal(&mut self, now: Time, header: Header) -> Result<Header, PluginError>;

    /// Checks a header's seal against the key entitled to its slot.
    fn verify_seal(&mut self, header: &Header) -> Result<SealInfo, PluginError>;

    /// Checks a finality proof for `hash` with nothing but headers (light-client check).
    fn verify_justification(
        &mut self,
        hash: &Hash,
        justification: &[u8],
    ) -> Result<(), PluginError>;

    /// The plugin's state as bytes for the host to persist.
    fn snapshot(&self) -> Result<Vec<u8>, PluginError>;

    /// Restores what [`Consensus::snapshot`] produced.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), PluginError>;
}
