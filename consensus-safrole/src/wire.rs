//! What this plugin puts on the wire and in headers: the header digest (Safrole's entropy VRF,
//! ticket extrinsic and markers) and the gossip messages (GRANDPA votes and commits, tickets).

use diverge_plugins::codec::{Decode, Encode};
use diverge_plugins::Header;

use crate::grandpa::messages::Message as GrandpaMessage;
// The digest types moved to `diverge-safrole` (shared with consensus-ssf); re-exported so
// `consensus_safrole::wire::Digest` keeps working.
pub use diverge_safrole::digest::{Digest, WireEpochMark, WireTicket, WireTicketsMark};

/// Evidence that one author sealed two different headers in one slot: both headers, each
/// checkable against the author's key for that slot.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SealEquivocation {
    /// The first header seen.
    pub first: Header,
    /// The conflicting one.
    pub second: Header,
}

/// A gossip message of this plugin.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Wire {
    /// GRANDPA vote or commit.
    Grandpa(GrandpaMessage),
    /// A Safrole ticket for the next epoch.
    Ticket(WireTicket),
}
