//! The state machine: the rules of the crate docs over the host's events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use curve25519_dalek::scalar::Scalar;
use diverge_plugins::codec::{decode_exact, Decode, Encode};
use diverge_plugins::consensus::Time;
use diverge_plugins::{
    blake2b_256, Action, Consensus, Event, Hash, Header, InitArgs, PluginError, SealInfo, Slot,
    ValidatorIndex,
};
use diverge_safrole::digest::WireTicket;
use diverge_safrole::keys::{secrets, ValidatorSecrets};
use diverge_safrole::pool::{Proved, Received, TicketContext, TicketPool};
use diverge_safrole::ring::RingContext;
use diverge_safrole::sealing::{self, HeaderError, Rule, Sealing};
use diverge_safrole::stf::Spec;
use diverge_safrole::types::{State, B32};
use serde::{Deserialize, Serialize};

use crate::dkg::{self, DkgError, GenesisDkg, Round1};
use crate::keys::{key_set, threshold, KeySet};
use crate::reshare::{self, Dealing};
use crate::vote::{
    sign, verify_certificate, verify_vote, Certificate, Subject, Vote, VoteError, DEALERS,
    FINALIZE, NOTARIZE, SKIP,
};

/// Timer: re-send votes and certificates while finality lags.
const REBROADCAST_TIMER: u64 = 1;
/// Timer ids `(slot << 8) | SKIP_TIMER` fire the SKIP deadline of a slot.
const SKIP_TIMER: u64 = 2;
/// Timer: re-send the genesis DKG's messages while this node has no key.
const DKG_TIMER: u64 = 3;
/// The timer at which the next own Safrole ticket is proven.
const TICKET_TIMER: u64 = 4;

/// Where the OSST shares come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// The genesis validators run FROST's DKG in-protocol ([`crate::dkg`]).
    #[default]
    Dkg,
    /// RESEARCH SHORTCUT, NOT SECURE: every share from a public seed ([`crate::keys`]).
    Dealer,
}

/// `[consensus.params]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Δ, the assumed bound on one network hop after GST, in ms.
    #[serde(default = "default_delta_ms")]
    pub delta_ms: u64,
    /// SKIP deadline after the slot start in ms; default slot_ms - 2Δ (at least Δ).
    #[serde(default)]
    pub skip_ms: Option<u64>,
    /// How often a node whose finality lags re-sends its votes and certificates, in ms
    /// (default: one slot).
    #[serde(default)]
    pub rebroadcast_ms: Option<u64>,
    /// `"dkg"` (default): genesis keys from a distributed key generation. `"dealer"`: RESEARCH
    /// SHORTCUT, NOT SECURE, a trusted dealer whose seed is in the config.
    #[serde(default)]
    pub keys: KeySource,
    /// With `keys = "dkg"`: reshare at every epoch change (default true).
    #[serde(default = "default_true")]
    pub reshare: bool,
    /// How often a node without a key re-sends its DKG messages, in ms (a late or restarted
    /// validator joins through these).
    #[serde(default = "default_dkg_resend_ms")]
    pub dkg_resend_ms: u64,
    /// With `keys = "dkg"`: the group key Y (hex, compressed), as every validator's
    /// `consensus.ssf.dkg_done` event reports it. An observer (no validator identity) takes no
    /// part in the DKG and checks certificates against this key; a validator checks that its
    /// DKG produced it.
    #[serde(default)]
    pub group_key: Option<String>,
    /// With `keys = "dealer"` only (RESEARCH SHORTCUT, NOT SECURE): the dealer's seed (hex)
    /// every node derives all OSST shares from. Default: Blake2b-256 of
    /// "diverge-ssf/insecure-dealer" ++ genesis hash.
    #[serde(default)]
    pub dealer_seed: Option<String>,
    /// Genesis entropy eta_0..3 as hex; default Blake2b-256 of the genesis header hash.
    #[serde(default)]
    pub genesis_entropy: Option<String>,
    /// How many slots below the final one a node keeps each validator's first vote of a slot,
    /// so a vote arriving after finality (a twin on the far side of a partition that SKIPped
    /// what this side finalized) is still compared and reported. Memory: about
    /// 2 x validators x this x 190 bytes per node (default 32: 2.3 MiB at 1023 validators).
    #[serde(default = "default_evidence_slots")]
    pub evidence_slots: u32,
}

fn default_evidence_slots() -> u32 {
    32
}

fn default_delta_ms() -> u64 {
    100
}

fn default_dkg_resend_ms() -> u64 {
    500
}

fn default_true() -> bool {
    true
}

impl Default for Params {
    fn default() -> Self {
        Params {
            delta_ms: default_delta_ms(),
            skip_ms: None,
            rebroadcast_ms: None,
            keys: KeySource::Dkg,
            group_key: None,
            reshare: true,
            dkg_resend_ms: default_dkg_resend_ms(),
            dealer_seed: None,
            genesis_entropy: None,
            evidence_slots: default_evidence_slots(),
        }
    }
}

/// Gossip of this plugin.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Wire {
    /// Own votes (one, or a batch of catch-up SKIPs / a rebroadcast).
    Votes(Vec<Vote>),
    /// A certificate (formed here or forwarded once).
    Cert(Certificate),
    /// "My final slot is this": peers holding more answer with their certificates.
    Status(Slot),
    /// Genesis DKG round 1 (broadcast): the sender's package; `want` = it has no key yet, so
    /// peers that finished answer with their round-1 package and its share.
    DkgRound1 {
        /// FROST round-1 package.
        package: Round1,
        /// The sender still needs packages.
        want: bool,
    },
    /// Genesis DKG round 2 (point-to-point, confidential): the sender's share for the receiver
    /// and the hash of the round-1 transcript the sender dealt on.
    DkgRound2 {
        /// f_sender(receiver), a canonical scalar.
        share: [u8; 32],
        /// The sender's round-1 transcript hash (echo check of the broadcast).
        transcript: Hash,
    },
    /// Reshare (broadcast): the sender's Feldman commitment to g_i (g_i(0) = its share of
    /// sharing `sharing`) for the reshare of epoch `epoch`.
    Deal {
        /// The epoch whose reshare this is (the new sharing takes over in epoch + 1).
        epoch: u32,
        /// The sharing dealt from.
        sharing: u32,
        /// C_{i,0..t}.
        commitment: Vec<[u8; 32]>,
    },
    /// Reshare (point-to-point, confidential): g_sender(receiver).
    SubShare {
        /// The epoch of the reshare.
        epoch: u32,
        /// The sub-share, a canonical scalar.
        share: [u8; 32],
    },
    /// A DEALERS vote with the dealer set (index, commitment hash) it names.
    Dealers {
        /// Sharing dealt from.
        sharing: u32,
        /// D, by index (0-based) with the hash of each dealer's commitment.
        dealers: Vec<(u16, Hash)>,
        /// The vote on H(epoch, sharing, D).
        vote: Vote,
    },
    /// A DEALERS certificate with its dealer set: D is agreed (quorum intersection, as for F).
    DealerCert {
        /// Sharing dealt from.
        sharing: u32,
        /// D.
        dealers: Vec<(u16, Hash)>,
        /// t DEALERS votes.
        cert: Certificate,
    },
    /// "Send me your Deal and SubShare of this epoch again" (a player that missed them).
    NeedSubShare {
        /// The epoch of the reshare.
        epoch: u32,
    },
    /// "Send me the dealer set of this epoch" (a restarted node whose snapshot predates it).
    NeedDealerCert {
        /// The epoch of the reshare.
        epoch: u32,
    },
    /// A Safrole ticket for the next epoch (a ring VRF proof: anonymous until it seals).
    Ticket(WireTicket),
}

/// H(epoch, sharing, D): the subject hash a DEALERS vote signs.
pub fn dealers_hash(epoch: u32, sharing: u32, dealers: &[(u16, Hash)]) -> Hash {
    let mut v = b"diverge-ssf/dealers/v1".to_vec();
    v.extend_from_slice(&epoch.to_le_bytes());
    v.extend_from_slice(&sharing.to_le_bytes());
    v.extend_from_slice(&dealers.to_vec().encode());
    blake2b_256(&v)
}

/// A dealer set D: (0-based index, hash of its commitment), in index order.
pub type DealerSet = Vec<(u16, Hash)>;

/// A dealing received for one epoch's reshare.
#[derive(Clone, Debug)]
struct InDeal {
    sharing: u32,
    commitment: Vec<curve25519_dalek::ristretto::RistrettoPoint>,
    hash: Hash,
    /// This node's verified sub-share.
    sub: Option<Scalar>,
}

/// Evidence that one index signed two conflicting subjects; both votes verify against y_i.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct VoteEquivocation {
    /// The first vote seen.
    pub first: Vote,
    /// The conflicting one.
    pub second: Vote,
}

/// The report of two checked votes of one index that conflict (the first one held, the second
/// just received), with evidence anyone can check against y_i alone.
fn equivocation(first: &Vote, second: &Vote) -> Action {
    Action::Misbehaviour {
        offender: (second.index() - 1) as ValidatorIndex,
        kind: "ssf.vote.equivocation".into(),
        evidence: VoteEquivocation {
            first: first.clone(),
            second: second.clone(),
        }
        .encode(),
    }
}

/// Counters a researcher reads from telemetry and tests.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counters {
    /// Blocks sealed here.
    pub authored: u64,
    /// Votes received that verified.
    pub votes_ok: u64,
    /// Votes received that did not verify.
    pub votes_invalid: u64,
    /// Certificates received that did not verify.
    pub certs_invalid: u64,
    /// Votes and certificates dropped because this node had no key yet.
    pub before_key: u64,
    /// DKG messages refused.
    pub dkg_invalid: u64,
    /// Reshare messages refused (bad commitment or sub-share, bad DEALERS vote).
    pub reshare_invalid: u64,
    /// Reshares completed here (a new sharing installed with this node's share).
    pub reshares: u64,
    /// Certificates formed or accepted, by kind (notarize, finalize, skip).
    pub certs: [u64; 3],
    /// Safrole tickets proven here.
    pub tickets_made: u64,
    /// Safrole tickets received that verified.
    pub tickets_received: u64,
    /// Safrole tickets received that did not verify.
    pub tickets_invalid: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Block {
    #[serde(with = "diverge_safrole::sealing::header_hex")]
    header: Header,
    state: Arc<State>,
    available: bool,
    valid: Option<bool>,
    /// Sealed with a ticket (not a fallback key).
    #[serde(default)]
    ticketed: bool,
}

/// The DKG's result as a snapshot keeps it (hex scalars and compressed points).
#[derive(Serialize, Deserialize)]
struct StoredKeys {
    group: String,
    sets: Vec<StoredSet>,
}

/// One sharing: its id, y_1..y_V and this node's share of it.
#[derive(Serialize, Deserialize)]
struct StoredSet {
    id: u32,
    share: Option<String>,
    shares: Vec<String>,
}

impl StoredKeys {
    fn load(self, t: usize, v: usize) -> Result<Vec<(KeySet, Option<Scalar>)>, PluginError> {
        let bad = |what: &str| PluginError::invalid_input(format!("snapshot keys: bad {what}"));
        let bytes32 = |h: &str, what: &str| -> Result<[u8; 32], PluginError> {
            hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| bad(what))
        };
        let point = |h: &str, what: &str| {
            curve25519_dalek::ristretto::CompressedRistretto(bytes32(h, what)?)
                .decompress()
                .ok_or_else(|| bad(what))
        };
        let group = point(&self.group, "group key")?;
        self.sets
            .iter()
            .map(|set| {
                let shares = set
                    .shares
                    .iter()
                    .map(|y| point(y, "verification share"))
                    .collect::<Result<Vec<_>, _>>()?;
                if shares.len() != v {
                    return Err(bad("verification share count"));
                }
                let share = match &set.share {
                    Some(x) => Some(
                        Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes32(x, "share")?))
                            .ok_or_else(|| bad("share"))?,
                    ),
                    None => None,
                };
                let mut ks = KeySet::new(group, shares, t);
                ks.id = set.id;
                Ok((ks, share))
            })
            .collect()
    }
}

/// The SSF engine of one node.
pub struct SsfConsensus {
    spec: Spec,
    /// Own and received Safrole tickets (the pool shared with consensus-safrole).
    tickets: TicketPool,
    rule: Rule,
    ring: Arc<RingContext>,
    params: Params,
    me: Option<(ValidatorIndex, ValidatorSecrets)>,
    /// The genesis sharing (None until the genesis DKG finished): Y, t, V for certificates.
    keys: Option<KeySet>,
    /// Every known sharing by id (0 = genesis, e = the one that takes over in epoch e).
    sharings: BTreeMap<u32, KeySet>,
    /// This node's share of each sharing it holds (old ones are dropped, see `install`).
    my_shares: BTreeMap<u32, Scalar>,
    epoch_len: u32,
    /// Reshare: dealings received, by epoch and dealer index.
    deals: BTreeMap<u32, BTreeMap<u16, InDeal>>,
    /// Sub-shares that arrived before their commitment, by (epoch, dealer).
    early_subs: BTreeMap<(u32, u16), Scalar>,
    /// This node's own dealing per epoch.
    my_deal: BTreeMap<u32, (u32, Dealing)>,
    /// DEALERS votes by (subject, sharing).
    dealer_tally: HashMap<(Subject, u32), BTreeMap<u32, [u8; 68]>>,
    /// First DEALERS vote per (epoch, index): a second on another set is equivocation.
    dealer_first: HashMap<(u32, u32), Vote>,
    /// This node's DEALERS vote per epoch.
    my_dealer_vote: BTreeMap<u32, Wire>,
    /// DEALERS votes this node cast before a restart (from the journal), without their set:
    /// it may repeat the same vote, never cast another.
    journaled_dealers: BTreeMap<u32, Vote>,
    /// Restored from a snapshot: ask peers once per epoch for a dealer set it may have missed.
    restored: bool,
    asked_dealers: HashSet<u32>,
    /// The agreed dealer set per epoch: (sharing, D, certificate).
    dealer_certs: BTreeMap<u32, (u32, DealerSet, Certificate)>,
    /// Epochs whose reshare failed here for good.
    reshare_failed: HashSet<u32>,
    /// t = floor(2V/3) + 1 (known before the keys are).
    threshold: usize,
    /// The genesis DKG: running, or finished and kept to answer late peers.
    dkg: Option<GenesisDkg>,
    dkg_started: bool,
    /// Why this node's DKG stopped for good.
    dkg_failed: Option<DkgError>,
    /// `group_key` from the config, if given.
    group_key: Option<curve25519_dalek::ristretto::RistrettoPoint>,
    genesis: Hash,
    slot_us: Time,
    blocks: HashMap<Hash, Block>,
    checked: HashMap<Hash, (Arc<State>, SealInfo)>,
    /// Valid votes by subject: index -> contribution.
    tally: HashMap<(Subject, u32), BTreeMap<u32, [u8; 68]>>,
    /// First valid vote per (class, slot, index): class 0 NOTARIZE, 1 FINALIZE or SKIP. Kept
    /// `evidence_slots` below the final slot, for late equivocations.
    first: HashMap<(u8, Slot, u32), Vote>,
    /// Late equivocations already reported (a lagging node re-sends its votes every
    /// `rebroadcast_ms`): each is checked and reported once.
    late_reported: HashSet<(u8, Slot, u32)>,
    notarized: BTreeMap<Slot, Certificate>,
    finals: BTreeMap<Slot, Certificate>,
    skips: BTreeMap<Slot, Certificate>,
    voted: HashSet<(u8, Slot)>,
    my_votes: BTreeMap<Slot, Vec<Vote>>,
    /// A vote was cast since the journal was last written.
    journal_dirty: bool,
    authored: HashSet<Slot>,
    /// When each block was first seen here, for telemetry.
    seen_at: HashMap<Hash, Time>,
    /// Blocks asked for with `RequestBlock` (once each), by slot.
    requested: HashMap<Hash, Slot>,
    /// The first header per (slot, author): a second one is seal equivocation.
    by_slot: HashMap<(Slot, ValidatorIndex), Header>,
    finalized: Hash,
    finalized_slot: Slot,
    current: Slot,
    best: Hash,
    rebroadcast_armed: bool,
    counters: Counters,
}

impl std::fmt::Debug for SsfConsensus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsfConsensus")
            .field("me", &self.me.as_ref().map(|m| m.0))
            .field("keys", &self.keys)
            .field("finalized_slot", &self.finalized_slot)
            .finish()
    }
}

fn telemetry(name: &str, fields: serde_json::Value) -> Action {
    Action::Telemetry {
        name: name.to_string(),
        fields_json: fields.to_string(),
    }
}

fn no_key() -> PluginError {
    PluginError::rejected("no group key yet: the genesis DKG has not finished here")
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        NOTARIZE => "notarize",
        FINALIZE => "finalize",
        _ => "skip",
    }
}

impl SsfConsensus {
    /// An engine from the host's init arguments (as consensus-safrole's: `genesis` is the
    /// encoded genesis header or empty, `identity` this node's seed).
    pub fn new(args: &InitArgs) -> Result<SsfConsensus, PluginError> {
        let params: Params = if args.params_json.trim().is_empty() {
            Params::default()
        } else {
            serde_json::from_str(&args.params_json)
                .map_err(|e| PluginError::config(format!("[consensus.params]: {e}")))?
        };
        let chain = args.chain.clone();
        let v = usize::from(chain.validators);
        if args.validators.len() != v || v == 0 {
            return Err(PluginError::config(format!(
                "chain has {v} validators but the genesis set lists {}",
                args.validators.len()
            )));
        }
        if chain.ticket_end > chain.epoch_len || chain.epoch_len == 0 || chain.slot_ms == 0 {
            return Err(PluginError::config(format!(
                "need 0 < Y <= E and slot_ms > 0, got Y={} E={} slot_ms={}",
                chain.ticket_end, chain.epoch_len, chain.slot_ms
            )));
        }
        if params.delta_ms == 0 || params.skip_ms == Some(0) || params.rebroadcast_ms == Some(0) {
            return Err(PluginError::config(
                "[consensus.params] delta_ms, skip_ms and rebroadcast_ms must be > 0",
            ));
        }
        let spec = Spec::from(&chain);
        let ring = diverge_safrole::srs::ring_context(v)
            .map_err(|e| PluginError::config(format!("ring of {v}: {e}")))?;
        let genesis_header: Header = if args.genesis.is_empty() {
            Header::default()
        } else {
            decode_exact(&args.genesis)
                .map_err(|e| PluginError::config(format!("genesis header: {e}")))?
        };
        let genesis = genesis_header.hash();
        if params.dkg_resend_ms == 0 {
            return Err(PluginError::config(
                "[consensus.params] dkg_resend_ms must be > 0",
            ));
        }
        if params.keys == KeySource::Dkg && params.dealer_seed.is_some() {
            return Err(PluginError::config(
                "[consensus.params] dealer_seed needs keys = \"dealer\" (the research shortcut)",
            ));
        }
        let me = match &args.identity {
            Some(id) if usize::from(id.index) < v => {
                let s = secrets(&id.seed);
                let k = &args.validators[usize::from(id.index)];
                if s.bandersnatch.public() != k.bandersnatch {
                    return Err(PluginError::config(format!(
                        "identity seed does not derive validator {}'s keys",
                        id.index
                    )));
                }
                Some((id.index, s))
            }
            Some(id) => {
                return Err(PluginError::config(format!(
                    "identity index {} out of range",
                    id.index
                )))
            }
            None => None,
        };
        let t = threshold(v);
        let group_key = match &params.group_key {
            Some(h) if params.keys == KeySource::Dkg => Some(
                hex::decode(h)
                    .ok()
                    .and_then(|b| {
                        curve25519_dalek::ristretto::CompressedRistretto::from_slice(&b).ok()
                    })
                    .and_then(|c| c.decompress())
                    .ok_or_else(|| {
                        PluginError::config("[consensus.params] group_key is not a ristretto point")
                    })?,
            ),
            Some(_) => {
                return Err(PluginError::config(
                    "[consensus.params] group_key needs keys = \"dkg\"",
                ))
            }
            None => None,
        };
        let (keys, share, dkg) = match params.keys {
            KeySource::Dealer => {
                let seed = match &params.dealer_seed {
                    Some(h) => hex::decode(h)
                        .map_err(|e| PluginError::config(format!("dealer_seed: {e}")))?,
                    None => {
                        let mut v = b"diverge-ssf/insecure-dealer".to_vec();
                        v.extend_from_slice(&genesis.0);
                        blake2b_256(&v).0.to_vec()
                    }
                };
                let (keys, share) = key_set(&seed, v, me.as_ref().map(|m| usize::from(m.0)));
                (Some(keys), share, None)
            }
            // One validator: its own random secret is the whole "DKG" (FROST needs two).
            KeySource::Dkg if v == 1 => match &args.identity {
                Some(id) => {
                    let out = dkg::single(&dkg::rng(&id.seed, &genesis, b"genesis"));
                    (
                        Some(KeySet::new(out.group, out.shares, t)),
                        Some(out.share),
                        None,
                    )
                }
                None => (group_key.map(|y| KeySet::public(y, v, t)), None, None),
            },
            KeySource::Dkg => match &args.identity {
                Some(id) => {
                    let d =
                        GenesisDkg::new(id.index, v, t, dkg::rng(&id.seed, &genesis, b"genesis"))
                            .map_err(|e| PluginError::config(format!("genesis DKG: {e}")))?;
                    (None, None, Some(d))
                }
                None => (group_key.map(|y| KeySet::public(y, v, t)), None, None),
            },
        };
        let state = diverge_safrole::sealing::genesis_state(
            &spec,
            &ring,
            &args.validators,
            &genesis_header,
            params.genesis_entropy.as_deref(),
        )
        .map_err(PluginError::config)?;
        let finalized_slot = genesis_header.slot;
        let mut blocks = HashMap::new();
        blocks.insert(
            genesis,
            Block {
                header: genesis_header,
                state: Arc::new(state),
                available: true,
                valid: Some(true),
                ticketed: false,
            },
        );
        Ok(SsfConsensus {
            spec,
            rule: Rule {
                sealing: Sealing::Safrole,
                lottery_c: 0.5,
                validators: v,
            },
            ring,
            params,
            me,
            sharings: keys.iter().map(|k| (0, k.clone())).collect(),
            my_shares: share.map(|x| (0, x)).into_iter().collect(),
            keys,
            epoch_len: chain.epoch_len,
            deals: BTreeMap::new(),
            early_subs: BTreeMap::new(),
            my_deal: BTreeMap::new(),
            dealer_tally: HashMap::new(),
            dealer_first: HashMap::new(),
            my_dealer_vote: BTreeMap::new(),
            journaled_dealers: BTreeMap::new(),
            restored: false,
            asked_dealers: HashSet::new(),
            dealer_certs: BTreeMap::new(),
            reshare_failed: HashSet::new(),
            threshold: t,
            dkg,
            dkg_started: false,
            dkg_failed: None,
            group_key,
            genesis,
            slot_us: chain.slot_ms * 1000,
            blocks,
            checked: HashMap::new(),
            tally: HashMap::new(),
            first: HashMap::new(),
            late_reported: HashSet::new(),
            notarized: BTreeMap::new(),
            finals: BTreeMap::new(),
            skips: BTreeMap::new(),
            voted: HashSet::new(),
            my_votes: BTreeMap::new(),
            journal_dirty: false,
            authored: HashSet::new(),
            seen_at: HashMap::new(),
            requested: HashMap::new(),
            by_slot: HashMap::new(),
            finalized: genesis,
            finalized_slot,
            current: 0,
            best: genesis,
            rebroadcast_armed: false,
            counters: Counters::default(),
            tickets: TicketPool::new(),
        })
    }

    /// The public key set (group key, verification shares, t), once it exists.
    pub fn keys(&self) -> Option<&KeySet> {
        self.keys.as_ref()
    }

    /// The key set of sharing `id` (0 at genesis, e after epoch e's reshare), if held here:
    /// what a third party checks a vote of that sharing against.
    pub fn sharing(&self, id: u32) -> Option<&KeySet> {
        self.sharings.get(&id)
    }

    /// Why the genesis DKG stopped at this node, if it did.
    pub fn dkg_failure(&self) -> Option<&DkgError> {
        self.dkg_failed.as_ref()
    }

    /// The genesis hash.
    pub fn genesis(&self) -> Hash {
        self.genesis
    }

    /// Counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The last finalized block and its slot.
    pub fn finalized(&self) -> (Hash, Slot) {
        (self.finalized, self.finalized_slot)
    }

    fn skip_offset(&self) -> Time {
        let delta = self.params.delta_ms * 1000;
        match self.params.skip_ms {
            Some(ms) => ms * 1000,
            None => self.slot_us.saturating_sub(2 * delta).max(delta),
        }
    }

    fn rebroadcast_every(&self) -> Time {
        self.params
            .rebroadcast_ms
            .map_or(self.slot_us, |ms| ms * 1000)
    }

    /// The block `h` if it is genesis, final, or notarized.
    fn certified(&self, h: &Hash) -> Option<&Block> {
        let b = self.blocks.get(h)?;
        let s = b.header.slot;
        let ok = *h == self.genesis
            || *h == self.finalized
            || self.notarized.get(&s).is_some_and(|c| c.subject.hash == *h)
            || self.finals.get(&s).is_some_and(|c| c.subject.hash == *h);
        ok.then_some(b)
    }

    /// Every slot strictly between `from` and `to` has K.
    fn skipped_between(&self, from: Slot, to: Slot) -> bool {
        (from.saturating_add(1)..to).all(|j| self.skips.contains_key(&j))
    }

    /// Rule 1: the block at `slot` on `parent` is acceptable.
    fn acceptable(&self, parent: &Hash, slot: Slot) -> bool {
        match self.certified(parent) {
            Some(p) => p.header.slot < slot && self.skipped_between(p.header.slot, slot),
            None => false,
        }
    }

    /// Rule 2: the acceptable parent with the highest slot for a block in `slot`.
    fn parent_for(&self, slot: Slot) -> Option<Hash> {
        let mut candidates: Vec<(Slot, Hash)> = vec![(self.finalized_slot, self.finalized)];
        for c in self.notarized.values().chain(self.finals.values()) {
            if c.subject.slot < slot {
                candidates.push((c.subject.slot, c.subject.hash));
            }
        }
        candidates.sort();
        candidates
            .into_iter()
            .rev()
            .find(|(_, h)| self.acceptable(h, slot))
            .map(|(_, h)| h)
    }

    fn header_error(e: HeaderError) -> PluginError {
        match e {
            HeaderError::Malformed(m) => PluginError::invalid_input(m),
            HeaderError::Rejected(m) => PluginError::rejected(m),
        }
    }

    fn check(&self, header: &Header) -> Result<(SealInfo, State), PluginError> {
        let parent = self
            .blocks
            .get(&header.parent)
            .ok_or_else(|| PluginError::rejected(format!("unknown parent {}", header.parent)))?;
        sealing::check_header(
            &self.spec,
            &self.ring,
            &self.rule,
            &parent.state,
            parent.header.slot,
            header,
        )
        .map_err(Self::header_error)
    }

    /// Casts an own vote: records it (the journal a snapshot keeps), counts it, sends it.
    fn cast(&mut self, now: Time, subject: Subject, batch: &mut Vec<Vote>, out: &mut Vec<Action>) {
        // No key yet (DKG running): no vote. Nothing is marked voted, so the rules cast it
        // once the key exists, and catch-up SKIPs the slots that went by.
        let Some((index, _)) = &self.me else { return };
        let index = *index;
        let Some((keys, x)) = self.signing_key(subject.slot) else {
            return;
        };
        let class = if subject.kind == NOTARIZE {
            NOTARIZE
        } else {
            FINALIZE
        };
        // The honest invariants, enforced at the one place votes are made.
        let blocked = match subject.kind {
            NOTARIZE => {
                self.voted.contains(&(NOTARIZE, subject.slot))
                    || self.voted.contains(&(SKIP, subject.slot))
            }
            _ => {
                self.voted.contains(&(class, subject.slot))
                    || self.voted.contains(&(SKIP, subject.slot))
            }
        };
        if blocked {
            return;
        }
        let vote = sign(subject, u32::from(index) + 1, &x, &self.genesis, &keys);
        self.voted.insert((subject.kind, subject.slot));
        if subject.kind != NOTARIZE {
            // FINALIZE and SKIP exclude each other.
            self.voted.insert((FINALIZE, subject.slot));
            self.voted.insert((SKIP, subject.slot));
        }
        self.my_votes
            .entry(subject.slot)
            .or_default()
            .push(vote.clone());
        batch.push(vote.clone());
        self.journal_dirty = true;
        self.accept_vote(now, vote, out);
    }

    /// An own vote from the snapshot or the journal: the invariants hold for it as if it had
    /// just been cast, so a restart never signs its opposite.
    fn remember_own(&mut self, vote: Vote) {
        let sl = vote.subject.slot;
        if self.my_votes.get(&sl).is_some_and(|v| v.contains(&vote)) {
            return;
        }
        self.voted.insert((vote.subject.kind, sl));
        if vote.subject.kind != NOTARIZE {
            self.voted.insert((FINALIZE, sl));
            self.voted.insert((SKIP, sl));
        }
        self.my_votes.entry(sl).or_default().push(vote);
    }

    /// Sends a batch of own votes; new ones go to the journal first (write-ahead), since
    /// the snapshot is only taken at finalization and a vote forgotten in a crash could be
    /// contradicted after the restart (SKIP after FINALIZE breaks safety).
    fn flush(&mut self, batch: Vec<Vote>, out: &mut Vec<Action>) {
        if std::mem::take(&mut self.journal_dirty) {
            // DEALERS votes too, whatever the final slot: one per epoch, and a restarted node
            // that forgot its own would vote another set (an equivocation that could certify
            // two dealer sets).
            let votes: Vec<Vote> = self
                .my_votes
                .range(self.finalized_slot + 1..)
                .flat_map(|(_, v)| v.iter().cloned())
                .chain(self.my_dealer_vote.values().filter_map(|w| match w {
                    Wire::Dealers { vote, .. } => Some(vote.clone()),
                    _ => None,
                }))
                .chain(self.journaled_dealers.values().cloned())
                .collect();
            out.push(Action::Journal {
                bytes: votes.encode(),
            });
        }
        if !batch.is_empty() {
            out.push(Action::Broadcast {
                bytes: Wire::Votes(batch).encode(),
            });
        }
    }

    /// A verified vote: equivocation check, tally, certificate at t.
    fn accept_vote(&mut self, now: Time, vote: Vote, out: &mut Vec<Action>) {
        let s = vote.subject;
        let idx = vote.index();
        let class = if s.kind == NOTARIZE { 0 } else { 1 };
        match self.first.get(&(class, s.slot, idx)) {
            Some(prev) if prev.subject != s => {
                out.push(equivocation(prev, &vote));
                // Still counted below: a certificate needs t distinct indices either way, and
                // quorum intersection already accounts for double-voters.
            }
            Some(_) => {}
            None => {
                self.first.insert((class, s.slot, idx), vote.clone());
            }
        }
        let t = self.threshold;
        let key = (s, vote.sharing);
        let votes = self.tally.entry(key).or_default();
        votes.insert(idx, vote.contribution);
        // Collect only when a certificate can form: copying t contributions on every vote was
        // ~65 GB of memcpy per slot at V = 1023 (SCALE.md A). Same votes, same t, same order.
        if votes.len() >= t && !self.has_cert(&s) {
            let contributions: Vec<[u8; 68]> = self.tally[&key].values().take(t).copied().collect();
            let cert = Certificate {
                subject: s,
                contributions,
            };
            // Individually valid contributions always aggregate validly (ssf.md 2.8), so a
            // certificate formed here needs no aggregate check.
            self.apply_cert(now, cert, out);
        }
    }

    fn has_cert(&self, s: &Subject) -> bool {
        match s.kind {
            NOTARIZE => self.notarized.contains_key(&s.slot),
            FINALIZE => self.finals.contains_key(&s.slot),
            _ => self.skips.contains_key(&s.slot),
        }
    }

    fn apply_cert(&mut self, now: Time, cert: Certificate, out: &mut Vec<Action>) {
        let s = cert.subject;
        if self.has_cert(&s) {
            return;
        }
        out.push(Action::Broadcast {
            bytes: Wire::Cert(cert.clone()).encode(),
        });
        let slot_start = Time::from(s.slot) * self.slot_us;
        out.push(telemetry(
            "consensus.ssf.certificate",
            serde_json::json!({"kind": kind_name(s.kind), "slot": s.slot,
                "hash": s.hash.to_hex(), "since_slot_start_us": now.saturating_sub(slot_start)}),
        ));
        self.counters.certs[usize::from(s.kind.min(2))] += 1;
        match s.kind {
            NOTARIZE => {
                self.notarized.insert(s.slot, cert);
            }
            FINALIZE => {
                self.finals.insert(s.slot, cert);
            }
            _ => {
                self.skips.insert(s.slot, cert);
            }
        }
    }

    /// Re-evaluates every rule until nothing changes: author, NOTARIZE, FINALIZE, finality.
    fn progress(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.resharing() {
            self.maybe_deal(out);
            self.maybe_vote_dealers(out);
            self.try_combine(now, out);
        }
        let mut batch = Vec::new();
        // FINALIZE on every notarized slot above the final one (rule 4).
        let pending: Vec<Subject> = self
            .notarized
            .range(self.finalized_slot.saturating_add(1)..)
            .map(|(_, c)| c.subject)
            .collect();
        for s in pending {
            let validated = self
                .blocks
                .get(&s.hash)
                .is_some_and(|b| b.available && b.valid == Some(true));
            if validated {
                let f = Subject {
                    kind: FINALIZE,
                    ..s
                };
                self.cast(now, f, &mut batch, out);
            }
        }
        // NOTARIZE (rule 3): blocks above the final slot, in slot order.
        let mut cands: Vec<(Slot, Hash)> = self
            .blocks
            .iter()
            .filter(|(_, b)| {
                b.header.slot > self.finalized_slot && b.available && b.valid == Some(true)
            })
            .map(|(h, b)| (b.header.slot, *h))
            .collect();
        cands.sort();
        for (slot, h) in cands {
            if self.voted.contains(&(NOTARIZE, slot)) || self.voted.contains(&(SKIP, slot)) {
                continue;
            }
            let Some(b) = self.blocks.get(&h) else {
                continue;
            };
            if !self.acceptable(&b.header.parent, slot) {
                continue;
            }
            let subject = Subject {
                kind: NOTARIZE,
                slot,
                hash: h,
                root: b.header.post_state_root,
            };
            self.cast(now, subject, &mut batch, out);
        }
        // FINALIZE may have become possible from the NOTARIZE just counted.
        let pending: Vec<Subject> = self
            .notarized
            .range(self.finalized_slot.saturating_add(1)..)
            .map(|(_, c)| c.subject)
            .collect();
        for s in pending {
            if self
                .blocks
                .get(&s.hash)
                .is_some_and(|b| b.available && b.valid == Some(true))
            {
                self.cast(
                    now,
                    Subject {
                        kind: FINALIZE,
                        ..s
                    },
                    &mut batch,
                    out,
                );
            }
        }
        self.flush(batch, out);
        self.apply_finality(now, out);
        // Author (rule 2) in the current slot, once.
        if self.current > self.finalized_slot && !self.authored.contains(&self.current) {
            if let Some(parent) = self.parent_for(self.current) {
                if self.may_seal(&parent, self.current) {
                    self.authored.insert(self.current);
                    out.push(Action::Author {
                        slot: self.current,
                        parent,
                    });
                }
            }
        }
        // Best: the highest certified block (what the next author extends).
        if let Some(best) = self.parent_for(self.current.saturating_add(1)) {
            if best != self.best {
                self.best = best;
                out.push(Action::BestBlock { hash: best });
            }
        }
    }

    fn may_seal(&self, parent: &Hash, slot: Slot) -> bool {
        let (Some((index, secret)), Some(p)) = (&self.me, self.blocks.get(parent)) else {
            return false;
        };
        sealing::my_seal_kind(
            &self.spec,
            &self.rule,
            &p.state,
            slot,
            *index,
            &secret.bandersnatch,
            |id| self.tickets.mine(id),
        )
        .is_some()
    }

    /// Rule 6: the highest F whose block is known becomes final.
    fn apply_finality(&mut self, now: Time, out: &mut Vec<Action>) {
        let target = self
            .finals
            .range(self.finalized_slot.saturating_add(1)..)
            .rev()
            .find(|(_, c)| self.blocks.contains_key(&c.subject.hash))
            .map(|(s, c)| (*s, c.clone()));
        let Some((slot, cert)) = target else { return };
        let hash = cert.subject.hash;
        self.finalized = hash;
        self.finalized_slot = slot;
        let slot_start = Time::from(slot) * self.slot_us;
        out.push(telemetry(
            "consensus.ssf.finalized",
            serde_json::json!({"slot": slot, "hash": hash.to_hex(),
                "latency_from_slot_start_us": now.saturating_sub(slot_start),
                "latency_from_arrival_us": self.seen_at.get(&hash).map(|t| now.saturating_sub(*t))}),
        ));
        out.push(Action::Finalize {
            hash,
            slot,
            justification: cert.encode(),
        });
        self.prune();
    }

    /// Forgets what finality made irrelevant: blocks not descending from the final one, votes
    /// and certificates at or below the final slot (the final certificate itself stays).
    fn prune(&mut self) {
        let fs = self.finalized_slot;
        let fin = self.finalized;
        let mut keep: HashSet<Hash> = HashSet::from([fin, self.genesis]);
        let mut by_slot: Vec<(Slot, Hash, Hash)> = self
            .blocks
            .iter()
            .filter(|(_, b)| b.header.slot > fs)
            .map(|(h, b)| (b.header.slot, *h, b.header.parent))
            .collect();
        by_slot.sort();
        for (_, h, p) in by_slot {
            if keep.contains(&p) {
                keep.insert(h);
            }
        }
        self.blocks.retain(|h, _| keep.contains(h));
        // Tickets of the live blocks' contexts (eta_1: checked for the next epoch); own ones
        // seal the epoch after the one they were proven in, where their entropy is eta_3.
        let live: HashSet<TicketContext> = self
            .blocks
            .values()
            .flat_map(|b| {
                [
                    (b.state.eta[2], b.state.gamma_z),
                    (b.state.eta[1], b.state.gamma_z),
                ]
            })
            .collect();
        let proven: HashSet<B32> = self
            .blocks
            .values()
            .flat_map(|b| [b.state.eta[2], b.state.eta[3]])
            .collect();
        let seen_cap = 16 * self.spec.epoch_len as usize * self.rule.validators;
        self.tickets.retain(&live, &proven, seen_cap);
        self.checked.retain(|_, (s, _)| s.tau > fs);
        self.tally.retain(|(s, _), _| s.slot > fs);
        // Reshare state older than the previous epoch is of no use (its sharing is installed
        // or failed); the DEALERS tallies of the current epochs survive finality of their slot.
        let keep_epoch = (fs / self.epoch_len.max(1)).saturating_sub(1);
        self.deals.retain(|e, _| *e >= keep_epoch);
        self.early_subs.retain(|(e, _), _| *e >= keep_epoch);
        self.my_deal.retain(|e, _| *e >= keep_epoch);
        self.my_dealer_vote.retain(|e, _| *e >= keep_epoch);
        self.journaled_dealers.retain(|e, _| *e >= keep_epoch);
        let el = self.epoch_len.max(1);
        self.dealer_tally
            .retain(|(s, _), _| s.slot / el >= keep_epoch);
        self.dealer_first.retain(|(e, _), _| *e >= keep_epoch);
        let evidence_from = fs.saturating_sub(self.params.evidence_slots);
        self.first.retain(|(_, s, _), _| *s > evidence_from);
        self.late_reported.retain(|(_, s, _)| *s > evidence_from);
        self.notarized.retain(|s, _| *s > fs);
        self.skips.retain(|s, _| *s > fs);
        self.finals.retain(|s, _| *s >= fs);
        self.voted.retain(|(_, s)| *s > fs);
        self.my_votes.retain(|s, _| *s > fs);
        self.authored.retain(|s| *s > fs);
        self.seen_at.retain(|h, _| keep.contains(h));
        self.requested.retain(|_, s| *s > fs);
        self.by_slot.retain(|(s, _), _| *s > fs);
    }

    /// Checks a vote from `from` against its sharing; `None` when that sharing is not known
    /// here yet.
    fn check_vote(&self, from: ValidatorIndex, vote: &Vote) -> Option<Result<(), VoteError>> {
        // Votes travel only from their owner, so the authenticated sender is the one to blame
        // for a bad one.
        let owner = vote.index() == u32::from(from) + 1;
        let epoch = vote.subject.slot / self.epoch_len.max(1);
        if vote.subject.kind == DEALERS {
            return Some(Err(VoteError::Subject));
        }
        let keys = self.sharings.get(&vote.sharing)?;
        Some(if vote.sharing > epoch {
            // An honest node signs a slot of epoch e with a sharing <= e.
            Err(VoteError::Sharing(vote.sharing))
        } else if owner {
            verify_vote(vote, &self.genesis, keys)
        } else {
            Err(VoteError::Index(vote.index()))
        })
    }

    /// A vote at or below the final slot counts for nothing, but it may conflict with a vote
    /// held from before finality: a twin on the far side of a partition SKIPs the slots this
    /// side finalized with its sibling's FINALIZE, and its re-sent SKIPs arrive only after the
    /// heal. Checked (only when it conflicts, so honest late votes cost a lookup) and reported
    /// once; an invalid one is ignored, as its slot no longer matters.
    fn late_vote(&mut self, from: ValidatorIndex, vote: &Vote, out: &mut Vec<Action>) {
        let s = vote.subject;
        let key = (u8::from(s.kind != NOTARIZE), s.slot, vote.index());
        let Some(prev) = self.first.get(&key) else {
            return;
        };
        if prev.subject == s || self.late_reported.contains(&key) {
            return;
        }
        if self.check_vote(from, vote) != Some(Ok(())) {
            return;
        }
        self.late_reported.insert(key);
        out.push(equivocation(prev, vote));
    }

    /// A checked vote or certificate names a block above the final slot that is not here: ask
    /// its sender, once. Sync follows best heads only, so a block others stopped building on
    /// would never arrive and its votes never count (consensus-safrole does the same for
    /// GRANDPA targets). Not for the running slot: its block is most likely still in flight
    /// (votes are small and overtake it), and re-sent votes come back if it never lands.
    fn want_block(&mut self, s: &Subject, from: ValidatorIndex, out: &mut Vec<Action>) {
        if !matches!(s.kind, NOTARIZE | FINALIZE)
            || s.slot <= self.finalized_slot
            || s.slot >= self.current
            || self.blocks.contains_key(&s.hash)
            || self.checked.contains_key(&s.hash)
            || self.requested.contains_key(&s.hash)
        {
            return;
        }
        self.requested.insert(s.hash, s.slot);
        out.push(Action::RequestBlock { hash: s.hash, from });
    }

    fn on_wire(&mut self, now: Time, from: ValidatorIndex, w: Wire, out: &mut Vec<Action>) {
        match w {
            // An observer checks certificates, not votes (it has no verification shares, and a
            // vote it cannot check is not its sender's fault).
            Wire::Votes(votes) if self.me.is_none() => {
                self.counters.before_key += votes.len() as u64;
            }
            Wire::Votes(votes) => {
                for vote in votes {
                    if vote.subject.slot <= self.finalized_slot {
                        self.late_vote(from, &vote, out);
                        continue;
                    }
                    let Some(checked) = self.check_vote(from, &vote) else {
                        // Not checkable yet, and not the sender's fault: it is re-sent while
                        // finality lags.
                        self.counters.before_key += 1;
                        continue;
                    };
                    match checked {
                        Ok(()) => {
                            self.counters.votes_ok += 1;
                            self.want_block(&vote.subject, from, out);
                            if self
                                .tally
                                .get(&(vote.subject, vote.sharing))
                                .is_some_and(|m| m.contains_key(&vote.index()))
                            {
                                continue;
                            }
                            self.accept_vote(now, vote, out);
                        }
                        Err(e) => {
                            self.counters.votes_invalid += 1;
                            out.push(Action::Misbehaviour {
                                offender: from,
                                kind: "ssf.vote.invalid".into(),
                                evidence: vote.encode(),
                            });
                            out.push(telemetry(
                                "consensus.ssf.vote_invalid",
                                serde_json::json!({"from": from, "error": e.to_string()}),
                            ));
                        }
                    }
                }
            }
            Wire::Cert(cert) => {
                let s = cert.subject;
                if self.has_cert(&s) || (s.slot <= self.finalized_slot && s.kind != FINALIZE) {
                    return;
                }
                if s.kind == FINALIZE && s.slot <= self.finalized_slot {
                    return;
                }
                let Some(keys) = &self.keys else {
                    self.counters.before_key += 1;
                    return;
                };
                match verify_certificate(&cert, &self.genesis, keys) {
                    Ok(()) => {
                        self.want_block(&cert.subject, from, out);
                        self.apply_cert(now, cert, out);
                    }
                    Err(e) => {
                        self.counters.certs_invalid += 1;
                        out.push(Action::Misbehaviour {
                            offender: from,
                            kind: "ssf.certificate.invalid".into(),
                            evidence: cert.encode(),
                        });
                        out.push(telemetry(
                            "consensus.ssf.certificate_invalid",
                            serde_json::json!({"from": from, "error": e.to_string()}),
                        ));
                    }
                }
            }
            Wire::Status(their_final) => {
                if their_final < self.finalized_slot {
                    for bytes in self.catch_up_bundle() {
                        out.push(Action::Send { to: from, bytes });
                    }
                }
            }
            Wire::DkgRound1 { package, want } => self.on_dkg_round1(now, from, package, want, out),
            Wire::Deal {
                epoch,
                sharing,
                commitment,
            } => self.on_deal(from, epoch, sharing, &commitment, out),
            Wire::SubShare { epoch, share } => self.on_subshare(from, epoch, share, out),
            Wire::Dealers {
                sharing,
                dealers,
                vote,
            } => self.on_dealers_vote(from, sharing, dealers, vote, out),
            Wire::DealerCert {
                sharing,
                dealers,
                cert,
            } => self.on_dealer_cert(from, sharing, dealers, cert, out),
            Wire::NeedSubShare { epoch } => {
                if let Some((sharing, d)) = self.my_deal.get(&epoch) {
                    out.extend(Self::deal_messages(epoch, *sharing, d, Some(from)));
                } else if let Some((sharing, dealers, _)) = self.dealer_certs.get(&epoch) {
                    // Restarted since dealing: the same dealing again, if this node is in D.
                    let me = self.me.as_ref().map(|m| m.0);
                    let in_d = dealers.iter().any(|(i, _)| Some(*i) == me);
                    if let (true, Some(keys), Some(x)) = (
                        in_d,
                        self.sharings.get(sharing),
                        self.my_shares.get(sharing),
                    ) {
                        let d = self.dealing(epoch, keys, x);
                        out.extend(Self::deal_messages(epoch, *sharing, &d, Some(from)));
                    }
                }
            }
            Wire::Ticket(t) => self.on_ticket(t, out),
            Wire::NeedDealerCert { epoch } => {
                if let Some((sharing, dealers, cert)) = self.dealer_certs.get(&epoch) {
                    out.push(Action::Send {
                        to: from,
                        bytes: Wire::DealerCert {
                            sharing: *sharing,
                            dealers: dealers.clone(),
                            cert: cert.clone(),
                        }
                        .encode(),
                    });
                }
            }
            Wire::DkgRound2 { share, transcript } => {
                // Finished or stopped here: nothing left to do with a share (and a stopped DKG
                // reports its fault once, not at every resend).
                if self.keys.is_some() || self.dkg_failed.is_some() {
                    return;
                }
                let r = match self.dkg.as_mut() {
                    Some(d) => d.on_round2(from, share, transcript),
                    None => Ok(()),
                };
                self.dkg_result(now, r, out);
            }
        }
    }

    fn epoch_of(&self, slot: Slot) -> u32 {
        slot / self.epoch_len.max(1)
    }

    /// The slot of epoch `e` from which nodes vote on the dealer set: half an epoch after its
    /// start, so the dealings (sent at the epoch's first tick) have arrived.
    fn anchor(&self, e: u32) -> Slot {
        e.saturating_mul(self.epoch_len)
            .saturating_add(self.epoch_len / 2)
    }

    fn resharing(&self) -> bool {
        self.params.reshare && self.params.keys == KeySource::Dkg
    }

    /// The sharing this node signs a vote on `slot` with: the newest it holds that took over
    /// in the slot's epoch or before.
    fn signing_key(&self, slot: Slot) -> Option<(KeySet, Scalar)> {
        let e = self.epoch_of(slot);
        self.my_shares
            .range(..=e)
            .rev()
            .find_map(|(id, x)| self.sharings.get(id).map(|k| (k.clone(), *x)))
    }

    fn deal_messages(
        epoch: u32,
        sharing: u32,
        d: &Dealing,
        to: Option<ValidatorIndex>,
    ) -> Vec<Action> {
        let deal = Wire::Deal {
            epoch,
            sharing,
            commitment: reshare::compress(&d.commitment),
        }
        .encode();
        let mut out = vec![match to {
            Some(to) => Action::Send { to, bytes: deal },
            None => Action::Broadcast { bytes: deal },
        }];
        for (j, s) in d.subshares.iter().enumerate() {
            let j = j as ValidatorIndex;
            if to.is_none_or(|t| t == j) {
                out.push(Action::Send {
                    to: j,
                    bytes: Wire::SubShare {
                        epoch,
                        share: s.to_bytes(),
                    }
                    .encode(),
                });
            }
        }
        out
    }

    /// Deals this node's share to the same validator set at the start of every epoch (the set
    /// does not change in this plugin: every epoch's validators are the genesis ones).
    fn maybe_deal(&mut self, out: &mut Vec<Action>) {
        let Some((index, _)) = &self.me else { return };
        let me = *index;
        let e = self.epoch_of(self.current);
        if !self.resharing() || self.my_deal.contains_key(&e) || self.current >= self.anchor(e) {
            return;
        }
        let Some((keys, x)) = self.signing_key(self.current) else {
            return;
        };
        let d = self.dealing(e, &keys, &x);
        let own = d.subshares.get(usize::from(me)).copied();
        let msgs = Self::deal_messages(e, keys.id, &d, None);
        out.extend(
            msgs.into_iter()
                .filter(|a| !matches!(a, Action::Send { to, .. } if *to == me)),
        );
        let commitment = d.commitment.clone();
        self.my_deal.insert(e, (keys.id, d));
        let hash = blake2b_256(&reshare::compress(&commitment).encode());
        self.deals.entry(e).or_default().insert(
            me,
            InDeal {
                sharing: keys.id,
                commitment,
                hash,
                sub: own,
            },
        );
    }

    /// This node's dealing of epoch e from sharing `keys`. Hedged: secret (x), fresh per epoch
    /// and sharing, and deterministic, so a restarted dealer deals the same polynomial again
    /// instead of a second one.
    fn dealing(&self, e: u32, keys: &KeySet, x: &Scalar) -> Dealing {
        let mut seed = b"reshare".to_vec();
        seed.extend_from_slice(&e.to_le_bytes());
        seed.extend_from_slice(&keys.id.to_le_bytes());
        let mut rng = dkg::rng(&x.to_bytes(), &self.genesis, &seed);
        reshare::deal(x, self.threshold, keys.validators(), &mut rng)
    }

    fn reshare_fault(
        &mut self,
        from: ValidatorIndex,
        kind: &str,
        why: String,
        out: &mut Vec<Action>,
    ) {
        self.counters.reshare_invalid += 1;
        out.push(Action::Misbehaviour {
            offender: from,
            kind: kind.into(),
            evidence: why.clone().into_bytes(),
        });
        out.push(telemetry(
            "consensus.ssf.reshare_invalid",
            serde_json::json!({"from": from, "kind": kind, "error": why}),
        ));
    }

    fn on_deal(
        &mut self,
        from: ValidatorIndex,
        epoch: u32,
        sharing: u32,
        commitment: &[[u8; 32]],
        out: &mut Vec<Action>,
    ) {
        if !self.resharing()
            || self.dealer_certs.contains_key(&epoch)
                && self
                    .deals
                    .get(&epoch)
                    .is_some_and(|d| d.contains_key(&from))
        {
            return;
        }
        let Some(old) = self.sharings.get(&sharing) else {
            // Not checkable yet (this node lacks that sharing); the dealer re-sends.
            return;
        };
        let hash = blake2b_256(&commitment.to_vec().encode());
        if let Some(prev) = self.deals.get(&epoch).and_then(|d| d.get(&from)) {
            if prev.hash != hash || prev.sharing != sharing {
                self.reshare_fault(
                    from,
                    "ssf.reshare.equivocation",
                    "two commitments in one epoch".into(),
                    out,
                );
            }
            return;
        }
        let dealer = u32::from(from) + 1;
        let parsed =
            reshare::decompress(dealer, commitment, self.threshold).and_then(|c| {
                match old.shares.get(usize::from(from)) {
                    Some(y) if c.first() == Some(y) => Ok(c),
                    _ => Err(reshare::ReshareError::Constant(dealer)),
                }
            });
        let c = match parsed {
            Ok(c) => c,
            Err(e) => {
                return self.reshare_fault(from, "ssf.reshare.bad_commitment", e.to_string(), out)
            }
        };
        let mut deal = InDeal {
            sharing,
            commitment: c,
            hash,
            sub: None,
        };
        if let Some(s) = self.early_subs.remove(&(epoch, from)) {
            self.check_sub(from, &mut deal, s, out);
        }
        self.deals.entry(epoch).or_default().insert(from, deal);
    }

    fn check_sub(
        &mut self,
        from: ValidatorIndex,
        deal: &mut InDeal,
        s: Scalar,
        out: &mut Vec<Action>,
    ) {
        let Some((me, _)) = &self.me else { return };
        match reshare::verify_subshare(
            u32::from(from) + 1,
            &deal.commitment,
            u32::from(*me) + 1,
            &s,
        ) {
            Ok(()) => deal.sub = Some(s),
            Err(e) => self.reshare_fault(from, "ssf.reshare.bad_subshare", e.to_string(), out),
        }
    }

    fn on_subshare(
        &mut self,
        from: ValidatorIndex,
        epoch: u32,
        share: [u8; 32],
        out: &mut Vec<Action>,
    ) {
        if !self.resharing() {
            return;
        }
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(share)) else {
            return self.reshare_fault(
                from,
                "ssf.reshare.bad_subshare",
                "not a canonical scalar".into(),
                out,
            );
        };
        match self.deals.get_mut(&epoch).and_then(|d| d.remove(&from)) {
            Some(mut deal) => {
                if deal.sub.is_none() {
                    self.check_sub(from, &mut deal, s, out);
                }
                self.deals.entry(epoch).or_default().insert(from, deal);
            }
            None => {
                self.early_subs.insert((epoch, from), s);
            }
        }
    }

    /// At the anchor of epoch e: vote DEALERS on the set of dealers (of this node's sharing)
    /// whose commitment and sub-share for this node both checked, if there are at least t.
    fn maybe_vote_dealers(&mut self, out: &mut Vec<Action>) {
        let Some((index, _)) = &self.me else { return };
        let index = *index;
        let e = self.epoch_of(self.current);
        if !self.resharing()
            || self.current < self.anchor(e)
            || self.my_dealer_vote.contains_key(&e)
            || self.dealer_certs.contains_key(&e)
        {
            return;
        }
        let Some((keys, x)) = self.signing_key(self.anchor(e)) else {
            return;
        };
        let dealers: Vec<(u16, Hash)> = self
            .deals
            .get(&e)
            .map(|d| {
                d.iter()
                    .filter(|(_, d)| d.sharing == keys.id && d.sub.is_some())
                    .map(|(i, d)| (*i, d.hash))
                    .collect()
            })
            .unwrap_or_default();
        if dealers.len() < self.threshold {
            return;
        }
        let subject = Subject {
            kind: DEALERS,
            slot: self.anchor(e),
            hash: dealers_hash(e, keys.id, &dealers),
            root: Hash::default(),
        };
        // Voted before a restart: the same vote again if this is its set, else nothing.
        if let Some(v) = self.journaled_dealers.get(&e) {
            if v.subject != subject || v.sharing != keys.id {
                return;
            }
        }
        let vote = sign(subject, u32::from(index) + 1, &x, &self.genesis, &keys);
        self.journal_dirty = true;
        let w = Wire::Dealers {
            sharing: keys.id,
            dealers,
            vote,
        };
        out.push(Action::Broadcast { bytes: w.encode() });
        self.my_dealer_vote.insert(e, w.clone());
        self.journaled_dealers.remove(&e);
        self.flush(Vec::new(), out);
        if let Wire::Dealers {
            sharing,
            dealers,
            vote,
        } = w
        {
            self.tally_dealers(sharing, dealers, vote, out);
        }
    }

    fn on_dealers_vote(
        &mut self,
        from: ValidatorIndex,
        sharing: u32,
        dealers: Vec<(u16, Hash)>,
        vote: Vote,
        out: &mut Vec<Action>,
    ) {
        let s = vote.subject;
        let e = self.epoch_of(s.slot);
        if !self.resharing() || self.dealer_certs.contains_key(&e) {
            return;
        }
        let Some(keys) = self.sharings.get(&vote.sharing) else {
            self.counters.before_key += 1;
            return;
        };
        let ok = s.kind == DEALERS
            && s.slot == self.anchor(e)
            && vote.sharing == sharing
            && vote.index() == u32::from(from) + 1
            && s.hash == dealers_hash(e, sharing, &dealers);
        let checked = if ok {
            verify_vote(&vote, &self.genesis, keys).map_err(|e| e.to_string())
        } else {
            Err("not a DEALERS vote of its sender on its set".into())
        };
        if let Err(why) = checked {
            return self.reshare_fault(from, "ssf.dealers.invalid", why, out);
        }
        match self.dealer_first.get(&(e, vote.index())) {
            Some(prev) if prev.subject != s => {
                out.push(Action::Misbehaviour {
                    offender: from,
                    kind: "ssf.dealers.equivocation".into(),
                    evidence: VoteEquivocation {
                        first: prev.clone(),
                        second: vote.clone(),
                    }
                    .encode(),
                });
                return;
            }
            Some(_) => return,
            None => {
                self.dealer_first.insert((e, vote.index()), vote.clone());
            }
        }
        self.tally_dealers(sharing, dealers, vote, out);
    }

    fn tally_dealers(
        &mut self,
        sharing: u32,
        dealers: Vec<(u16, Hash)>,
        vote: Vote,
        out: &mut Vec<Action>,
    ) {
        let s = vote.subject;
        let t = self.threshold;
        let votes = self.dealer_tally.entry((s, vote.sharing)).or_default();
        votes.insert(vote.index(), vote.contribution);
        if votes.len() >= t {
            let cert = Certificate {
                subject: s,
                contributions: votes.values().take(t).copied().collect(),
            };
            self.apply_dealer_cert(sharing, dealers, cert, out);
        }
    }

    fn on_dealer_cert(
        &mut self,
        from: ValidatorIndex,
        sharing: u32,
        dealers: Vec<(u16, Hash)>,
        cert: Certificate,
        out: &mut Vec<Action>,
    ) {
        let s = cert.subject;
        let e = self.epoch_of(s.slot);
        if !self.resharing() || self.dealer_certs.contains_key(&e) {
            return;
        }
        let Some(keys) = &self.keys else {
            self.counters.before_key += 1;
            return;
        };
        let ok = s.kind == DEALERS
            && s.slot == self.anchor(e)
            && s.hash == dealers_hash(e, sharing, &dealers);
        let checked = if ok {
            verify_certificate(&cert, &self.genesis, keys).map_err(|e| e.to_string())
        } else {
            Err("certificate is not on this dealer set".into())
        };
        match checked {
            Ok(()) => self.apply_dealer_cert(sharing, dealers, cert, out),
            Err(why) => self.reshare_fault(from, "ssf.dealers.certificate_invalid", why, out),
        }
    }

    /// D is agreed: keep it, forward it once, and combine as soon as the dealings are here.
    fn apply_dealer_cert(
        &mut self,
        sharing: u32,
        dealers: Vec<(u16, Hash)>,
        cert: Certificate,
        out: &mut Vec<Action>,
    ) {
        let e = self.epoch_of(cert.subject.slot);
        if self.dealer_certs.contains_key(&e) {
            return;
        }
        out.push(Action::Broadcast {
            bytes: Wire::DealerCert {
                sharing,
                dealers: dealers.clone(),
                cert: cert.clone(),
            }
            .encode(),
        });
        out.push(telemetry(
            "consensus.ssf.dealers_certified",
            serde_json::json!({"epoch": e, "sharing": sharing,
                "dealers": dealers.iter().map(|d| d.0).collect::<Vec<_>>()}),
        ));
        self.dealer_certs.insert(e, (sharing, dealers, cert));
    }

    /// Combines the agreed dealer set's dealings of epoch e into sharing e + 1.
    fn try_combine(&mut self, now: Time, out: &mut Vec<Action>) {
        let pending: Vec<u32> = self
            .dealer_certs
            .keys()
            .copied()
            .filter(|e| {
                !self.reshare_failed.contains(e)
                    && !(self.sharings.contains_key(&(e + 1))
                        && (self.me.is_none() || self.my_shares.contains_key(&(e + 1))))
            })
            .collect();
        for e in pending {
            let Some((sharing, dealers, _)) = self.dealer_certs.get(&e) else {
                continue;
            };
            let Some(old) = self.sharings.get(sharing) else {
                continue;
            };
            let Some(got) = self.deals.get(&e) else {
                continue;
            };
            // Every dealer of D, with exactly the commitment D names.
            let mut set = Vec::with_capacity(dealers.len());
            for (i, h) in dealers {
                match got.get(i) {
                    Some(d) if d.hash == *h && d.sharing == *sharing => {
                        set.push((u32::from(*i) + 1, d.commitment.as_slice(), d.sub))
                    }
                    _ => break,
                }
            }
            if set.len() != dealers.len() {
                continue;
            }
            let me = self.me.as_ref().map(|m| u32::from(m.0) + 1);
            // Combining costs V multi-scalar multiplications (7 s at V = 1023): with the
            // public set installed and a sub-share still missing, wait for it.
            if me.is_some()
                && set.iter().any(|d| d.2.is_none())
                && self.sharings.contains_key(&(e + 1))
            {
                continue;
            }
            let result = reshare::combine(
                &set,
                &old.shares,
                &old.group,
                old.threshold,
                old.shares.len(),
                me,
            );
            let n_dealers = dealers.len();
            match result {
                Ok(c) => {
                    if me.is_some() && c.share.is_none() {
                        // A sub-share of D is missing here: install the public set (to check
                        // others' votes) and ask again on the rebroadcast timer.
                        if !self.sharings.contains_key(&(e + 1)) {
                            self.install(now, e, n_dealers, c.shares, None, out);
                        }
                        continue;
                    }
                    self.install(now, e, n_dealers, c.shares, c.share, out);
                }
                Err(err) => {
                    self.reshare_failed.insert(e);
                    out.push(telemetry(
                        "consensus.ssf.reshare_failed",
                        serde_json::json!({"epoch": e, "error": err.to_string()}),
                    ));
                }
            }
        }
    }

    /// Installs sharing e + 1. Votes already signed for slots of epoch e + 1 or later are
    /// signed again with it (same subjects: no honest invariant is touched), so a node that
    /// learnt the new sharing late does not split a slot's votes across two sharings.
    fn install(
        &mut self,
        now: Time,
        e: u32,
        dealers: usize,
        shares: Vec<curve25519_dalek::ristretto::RistrettoPoint>,
        share: Option<Scalar>,
        out: &mut Vec<Action>,
    ) {
        let Some(g) = &self.keys else { return };
        let ks = KeySet {
            id: e + 1,
            group: g.group,
            threshold: g.threshold,
            tables: g.tables.clone(),
            shares,
        };
        self.sharings.insert(e + 1, ks.clone());
        let Some(x) = share else { return };
        self.my_shares.insert(e + 1, x);
        self.counters.reshares += 1;
        // Shares two sharings old are never signed with again: forget them (a holder that
        // keeps old shares is what makes a static group key forgeable later).
        self.my_shares.retain(|id, _| *id >= e);
        self.sharings.retain(|id, _| *id == 0 || *id >= e);
        out.push(telemetry(
            "consensus.ssf.reshare_done",
            serde_json::json!({"epoch": e, "sharing": e + 1, "dealers": dealers, "at_us": now}),
        ));
        let Some((index, _)) = &self.me else { return };
        let index = u32::from(*index) + 1;
        let resign: Vec<Subject> = self
            .my_votes
            .values()
            .flatten()
            .filter(|v| v.sharing < e + 1 && self.epoch_of(v.subject.slot) > e)
            .map(|v| v.subject)
            .collect();
        let mut batch = Vec::new();
        for s in resign {
            let v = sign(s, index, &x, &self.genesis, &ks);
            self.my_votes.entry(s.slot).or_default().push(v.clone());
            batch.push(v.clone());
            self.accept_vote(now, v, out);
            self.journal_dirty = true;
        }
        self.flush(batch, out);
    }

    /// Starts the genesis DKG at the first event (a plugin has no start hook that may act).
    fn start_dkg(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.dkg_started {
            return;
        }
        if self.params.keys == KeySource::Dealer {
            self.dkg_started = true;
            out.push(telemetry(
                "consensus.ssf.insecure_dealer_keys",
                serde_json::json!({"warning": "keys = \"dealer\": research shortcut, not secure: \
                    every OSST share derives from a seed in the config"}),
            ));
            return;
        }
        if self.keys.is_some() {
            return;
        }
        let Some(d) = &self.dkg else { return };
        self.dkg_started = true;
        out.push(telemetry(
            "consensus.ssf.dkg_started",
            serde_json::json!({"validators": self.blocks_validators(), "threshold": self.threshold}),
        ));
        out.push(Action::Broadcast {
            bytes: Wire::DkgRound1 {
                package: d.round1().clone(),
                want: true,
            }
            .encode(),
        });
        out.push(Action::SetTimer {
            id: DKG_TIMER,
            at: now + self.params.dkg_resend_ms * 1000,
        });
    }

    fn blocks_validators(&self) -> usize {
        self.rule.validators
    }

    /// This node's shares for every peer (or one), as messages.
    fn dkg_shares(&self, to: Option<ValidatorIndex>) -> Vec<Action> {
        let Some((transcript, shares)) = self.dkg.as_ref().and_then(|d| d.outgoing()) else {
            return Vec::new();
        };
        shares
            .iter()
            .filter(|(j, _)| to.is_none_or(|t| t == **j))
            .map(|(j, share)| Action::Send {
                to: *j,
                bytes: Wire::DkgRound2 {
                    share: *share,
                    transcript,
                }
                .encode(),
            })
            .collect()
    }

    fn on_dkg_round1(
        &mut self,
        now: Time,
        from: ValidatorIndex,
        package: Round1,
        want: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(d) = self.dkg.as_mut() else { return };
        if self.keys.is_some() || self.dkg_failed.is_some() {
            // Finished (or stopped) here: a peer that still needs packages gets ours again.
            if want && self.keys.is_some() {
                out.push(Action::Send {
                    to: from,
                    bytes: Wire::DkgRound1 {
                        package: d.round1().clone(),
                        want: false,
                    }
                    .encode(),
                });
                out.extend(self.dkg_shares(Some(from)));
            }
            return;
        }
        let had = d.outgoing().is_some();
        let r = d.on_round1(from, package);
        let dealt = !had && d.outgoing().is_some();
        if r.is_ok() && dealt {
            out.extend(self.dkg_shares(None));
        } else if r.is_ok() && want {
            // The sender restarted or came late: it needs this node's share again.
            out.extend(self.dkg_shares(Some(from)));
        }
        self.dkg_result(now, r, out);
    }

    /// Applies the outcome of a DKG step: a refused message is counted and attributed, a fault
    /// that makes the key unobtainable stops the DKG here, and a complete DKG installs the key.
    fn dkg_result(&mut self, now: Time, r: Result<(), DkgError>, out: &mut Vec<Action>) {
        let r = r.and_then(
            |()| match self.dkg.as_ref().filter(|_| self.keys.is_none()) {
                Some(d) => d.finish().transpose().map(|o| o.map(Box::new)),
                None => Ok(None),
            },
        );
        match r {
            Ok(None) => {}
            Ok(Some(o)) if self.group_key.is_some_and(|y| y != o.group) => {
                self.dkg_fault(now, DkgError::GroupKey, out)
            }
            Ok(Some(o)) => {
                let ks = KeySet::new(o.group, o.shares, self.threshold);
                self.sharings.insert(0, ks.clone());
                self.my_shares.insert(0, o.share);
                self.keys = Some(ks);
                out.push(telemetry(
                    "consensus.ssf.dkg_done",
                    serde_json::json!({"group": hex::encode(o.group.compress().as_bytes()),
                        "at_us": now, "slot": self.current}),
                ));
            }
            Err(e) => self.dkg_fault(now, e, out),
        }
    }

    fn dkg_fault(&mut self, now: Time, e: DkgError, out: &mut Vec<Action>) {
        self.counters.dkg_invalid += 1;
        let offence = match &e {
            DkgError::Malformed(i, _) => Some((*i, "ssf.dkg.malformed")),
            DkgError::Equivocation(i) => Some((*i, "ssf.dkg.equivocation")),
            DkgError::BadProof(i) => Some((*i, "ssf.dkg.bad_proof")),
            DkgError::BadShare(i) => Some((*i, "ssf.dkg.bad_share")),
            DkgError::Transcript(_) | DkgError::GroupKey | DkgError::Frost(_) => None,
        };
        if let Some((offender, kind)) = offence {
            out.push(Action::Misbehaviour {
                offender,
                kind: kind.into(),
                evidence: e.to_string().into_bytes(),
            });
        }
        // A malformed message may be a transient fault: the sender's next resend can fix it.
        // Every other fault leaves this node without a usable share for good.
        if matches!(e, DkgError::Malformed(..)) {
            out.push(telemetry(
                "consensus.ssf.dkg_message_invalid",
                serde_json::json!({"error": e.to_string()}),
            ));
            return;
        }
        out.push(telemetry(
            "consensus.ssf.dkg_aborted",
            serde_json::json!({"error": e.to_string(), "at_us": now,
                "action": "no key here: this node casts no votes; relaunch genesis without the offender"}),
        ));
        self.dkg_failed = Some(e);
    }

    /// The reshare's resends, once per rebroadcast period: a dealer re-sends its dealing and
    /// its DEALERS vote until D is certified here; a player that knows D but misses a dealing
    /// of it asks that dealer.
    fn resend_reshare(&mut self, out: &mut Vec<Action>) {
        let e = self.epoch_of(self.current);
        if !self.dealer_certs.contains_key(&e) {
            if let Some((sharing, d)) = self.my_deal.get(&e) {
                let me = self.me.as_ref().map(|m| m.0);
                out.extend(
                    Self::deal_messages(e, *sharing, d, None)
                        .into_iter()
                        .filter(|a| !matches!(a, Action::Send { to, .. } if Some(*to) == me)),
                );
            }
            if let Some(w) = self.my_dealer_vote.get(&e) {
                out.push(Action::Broadcast { bytes: w.encode() });
            }
        }
        let Some((me, _)) = &self.me else { return };
        if self.restored {
            // This epoch's set (past its anchor) and the one the epoch signs with.
            let mut want = vec![e.saturating_sub(1)];
            if self.current >= self.anchor(e) {
                want.push(e);
            }
            for ep in want {
                if !self.dealer_certs.contains_key(&ep) && self.asked_dealers.insert(ep) {
                    out.push(Action::Broadcast {
                        bytes: Wire::NeedDealerCert { epoch: ep }.encode(),
                    });
                }
            }
        }
        for (ep, (_, dealers, _)) in &self.dealer_certs {
            if self.my_shares.contains_key(&(ep + 1)) || self.reshare_failed.contains(ep) {
                continue;
            }
            for (i, h) in dealers {
                let have = self
                    .deals
                    .get(ep)
                    .and_then(|d| d.get(i))
                    .is_some_and(|d| d.hash == *h && d.sub.is_some());
                if !have && i != me {
                    out.push(Action::Send {
                        to: *i,
                        bytes: Wire::NeedSubShare { epoch: *ep }.encode(),
                    });
                }
            }
        }
    }

    /// The latest F and every N and K above the final slot, as messages (after the latest
    /// dealer set, so a lagging node learns which sharing the next epoch's votes use).
    fn catch_up_bundle(&self) -> Vec<Vec<u8>> {
        let dealer_set = self
            .dealer_certs
            .iter()
            .next_back()
            .map(|(_, (sharing, d, c))| {
                Wire::DealerCert {
                    sharing: *sharing,
                    dealers: d.clone(),
                    cert: c.clone(),
                }
                .encode()
            });
        dealer_set
            .into_iter()
            .chain(self.catch_up_certs())
            .collect()
    }

    fn catch_up_certs(&self) -> Vec<Vec<u8>> {
        self.finals
            .values()
            .rev()
            .take(1)
            .chain(self.notarized.values())
            .chain(self.skips.values())
            .filter(|c| c.subject.slot >= self.finalized_slot)
            .map(|c| Wire::Cert(c.clone()).encode())
            .collect()
    }

    fn on_tick(&mut self, now: Time, slot: Slot, out: &mut Vec<Action>) {
        self.current = self.current.max(slot);
        if self.best == self.genesis {
            if let Some(g) = self.blocks.get(&self.genesis) {
                let state = g.state.clone();
                self.make_tickets(now, &state, out);
            }
        }
        // Rule 5's timer for this slot.
        out.push(Action::SetTimer {
            id: (u64::from(slot) << 8) | SKIP_TIMER,
            at: Time::from(slot) * self.slot_us + self.skip_offset(),
        });
        // Rule 7: SKIP every elapsed slot with neither N nor K, in one message.
        let mut batch = Vec::new();
        for j in self.finalized_slot.saturating_add(1)..slot {
            if !self.notarized.contains_key(&j) && !self.skips.contains_key(&j) {
                self.cast(now, Subject::skip(j), &mut batch, out);
            }
        }
        self.flush(batch, out);
        if !self.rebroadcast_armed {
            self.rebroadcast_armed = true;
            out.push(Action::SetTimer {
                id: REBROADCAST_TIMER,
                at: now + self.rebroadcast_every(),
            });
        }
    }

    fn on_timer(&mut self, now: Time, id: u64, out: &mut Vec<Action>) {
        if id == TICKET_TIMER {
            return self.prove_ticket(now, out);
        }
        if id == DKG_TIMER {
            if self.keys.is_some() || self.dkg_failed.is_some() {
                return;
            }
            if let Some(d) = &self.dkg {
                out.push(Action::Broadcast {
                    bytes: Wire::DkgRound1 {
                        package: d.round1().clone(),
                        want: true,
                    }
                    .encode(),
                });
                out.extend(self.dkg_shares(None));
                out.push(Action::SetTimer {
                    id: DKG_TIMER,
                    at: now + self.params.dkg_resend_ms * 1000,
                });
            }
            return;
        }
        if id == REBROADCAST_TIMER {
            out.push(Action::SetTimer {
                id: REBROADCAST_TIMER,
                at: now + self.rebroadcast_every(),
            });
            self.resend_reshare(out);
            // Finality behind the clock by more than a slot: re-send what may have been lost.
            if self.current > self.finalized_slot.saturating_add(1) {
                let votes: Vec<Vote> = self.my_votes.values().flatten().cloned().collect();
                self.flush(votes, out);
                for bytes in self.catch_up_bundle() {
                    out.push(Action::Broadcast { bytes });
                }
                out.push(Action::Broadcast {
                    bytes: Wire::Status(self.finalized_slot).encode(),
                });
            }
            return;
        }
        if id & 0xff == SKIP_TIMER {
            let Ok(slot) = Slot::try_from(id >> 8) else {
                return;
            };
            if slot > self.finalized_slot && !self.notarized.contains_key(&slot) {
                let mut batch = Vec::new();
                self.cast(now, Subject::skip(slot), &mut batch, out);
                self.flush(batch, out);
            }
        }
    }

    fn import(
        &mut self,
        now: Time,
        header: Header,
        out: &mut Vec<Action>,
    ) -> Result<(), PluginError> {
        let hash = header.hash();
        if self.blocks.contains_key(&hash) {
            return Ok(());
        }
        let (state, ticketed) = match self.checked.remove(&hash) {
            Some((s, info)) => (s, info.ticketed),
            None => {
                let (info, s) = self.check(&header)?;
                (Arc::new(s), info.ticketed)
            }
        };
        match self.by_slot.get(&(header.slot, header.author)) {
            // Two validly sealed headers for one slot: both seals are the evidence. Rule 3
            // still lets this node NOTARIZE only the first.
            Some(first) if first.hash() != hash => out.push(Action::Misbehaviour {
                offender: header.author,
                kind: "safrole.seal.equivocation".into(),
                evidence: (first.clone(), header.clone()).encode(),
            }),
            Some(_) => {}
            None => {
                self.by_slot
                    .insert((header.slot, header.author), header.clone());
            }
        }
        self.seen_at.entry(hash).or_insert(now);
        self.blocks.insert(
            hash,
            Block {
                header,
                state: state.clone(),
                available: false,
                valid: None,
                ticketed,
            },
        );
        // The first block of an epoch (or the first seen in one) opens ticket submission.
        if state.tau % self.spec.epoch_len < self.spec.ticket_end {
            self.make_tickets(now, &state, out);
        }
        Ok(())
    }

    /// Starts proving this node's tickets for the next epoch, once per context, one per timer
    /// at mid-slot (a ring proof takes 0.1-0.6 s; at a slot's start it would delay this
    /// node's block and votes).
    fn make_tickets(&mut self, now: Time, state: &State, out: &mut Vec<Action>) {
        let Some((_, secret)) = &self.me else { return };
        if self.tickets.start(state, &secret.bandersnatch.public()) {
            out.push(Action::SetTimer {
                id: TICKET_TIMER,
                at: now + self.slot_us / 2,
            });
        }
    }

    fn prove_ticket(&mut self, now: Time, out: &mut Vec<Action>) {
        let Some((_, secret)) = &self.me else { return };
        let proved = self
            .tickets
            .prove_next(&self.spec, &self.ring, &secret.bandersnatch);
        let report = proved.telemetry("consensus.ssf");
        let more = match proved {
            Proved::Idle => return,
            Proved::Made { ticket, more, .. } => {
                out.push(Action::Broadcast {
                    bytes: Wire::Ticket(ticket).encode(),
                });
                self.counters.tickets_made += 1;
                more
            }
            Proved::Failed { more, .. } => more,
        };
        out.extend(report);
        if more {
            out.push(Action::SetTimer {
                id: TICKET_TIMER,
                at: now + self.slot_us,
            });
        }
    }

    /// A gossiped ticket, checked on the best block's state (under eta_2, or eta_1 for a
    /// maker one epoch ahead).
    fn on_ticket(&mut self, t: WireTicket, out: &mut Vec<Action>) {
        let Some(best) = self.blocks.get(&self.best) else {
            return;
        };
        let state = best.state.clone();
        let attempt = t.attempt;
        let received = self.tickets.receive(&self.spec, &self.ring, &state, t);
        match received {
            Received::Ignored => {}
            Received::Verified { .. } => self.counters.tickets_received += 1,
            Received::Bad { .. } => self.counters.tickets_invalid += 1,
        }
        out.extend(received.telemetry("consensus.ssf", attempt));
    }
}

impl Consensus for SsfConsensus {
    fn on_event(&mut self, now: Time, event: Event) -> Result<Vec<Action>, PluginError> {
        let mut out = Vec::new();
        self.start_dkg(now, &mut out);
        let result = match event {
            Event::Tick { slot } => {
                self.on_tick(now, slot, &mut out);
                Ok(())
            }
            Event::Timer { id } => {
                self.on_timer(now, id, &mut out);
                Ok(())
            }
            Event::Message { from, bytes } => match decode_exact::<Wire>(&bytes) {
                Ok(w) => {
                    self.on_wire(now, from, w, &mut out);
                    Ok(())
                }
                Err(e) => Err(PluginError::invalid_input(format!(
                    "message from {from}: {e}"
                ))),
            },
            Event::BlockImported { header } => self.import(now, header, &mut out),
            Event::BlockAvailable { hash } => {
                if let Some(b) = self.blocks.get_mut(&hash) {
                    b.available = true;
                }
                Ok(())
            }
            Event::BlockValidated { hash, valid } => {
                if let Some(b) = self.blocks.get_mut(&hash) {
                    b.valid = Some(valid);
                }
                Ok(())
            }
            Event::Justification { hash, bytes } => {
                let cert: Certificate = decode_exact(&bytes)
                    .map_err(|e| PluginError::invalid_input(format!("justification: {e}")))?;
                if cert.subject.hash != hash || cert.subject.kind != FINALIZE {
                    return Err(PluginError::rejected(
                        "justification is not a FINALIZE certificate for this block",
                    ));
                }
                if cert.subject.slot > self.finalized_slot {
                    let keys = self.keys.as_ref().ok_or_else(no_key)?;
                    verify_certificate(&cert, &self.genesis, keys)
                        .map_err(|e| PluginError::rejected(e.to_string()))?;
                    self.apply_cert(now, cert, &mut out);
                }
                Ok(())
            }
            Event::Journal { bytes } => {
                let votes: Vec<Vote> = decode_exact(&bytes)
                    .map_err(|e| PluginError::invalid_input(format!("journal: {e}")))?;
                let me = self.me.as_ref().map(|(i, _)| u32::from(*i) + 1);
                let n = votes.len();
                for v in votes.into_iter().filter(|v| Some(v.index()) == me) {
                    if v.subject.kind == DEALERS {
                        let e = self.epoch_of(v.subject.slot);
                        self.journaled_dealers.insert(e, v);
                    } else {
                        self.remember_own(v);
                    }
                }
                out.push(telemetry(
                    "consensus.ssf.recovered",
                    serde_json::json!({"votes": n}),
                ));
                Ok(())
            }
        };
        self.progress(now, &mut out);
        result.map(|()| out)
    }

    fn seal(&mut self, _now: Time, header: Header) -> Result<Header, PluginError> {
        let (index, secret) = self
            .me
            .as_ref()
            .ok_or_else(|| PluginError::unsupported("this node has no validator identity"))?;
        let parent = self
            .blocks
            .get(&header.parent)
            .ok_or_else(|| PluginError::rejected(format!("unknown parent {}", header.parent)))?;
        if header.slot <= parent.header.slot {
            return Err(PluginError::rejected(format!(
                "slot {} is not after the parent's {}",
                header.slot, parent.header.slot
            )));
        }
        let state = parent.state.clone();
        let kind = sealing::my_seal_kind(
            &self.spec,
            &self.rule,
            &state,
            header.slot,
            *index,
            &secret.bandersnatch,
            |id| self.tickets.mine(id),
        )
        .ok_or_else(|| {
            PluginError::rejected(format!(
                "validator {index} may not seal slot {}",
                header.slot
            ))
        })?;
        let tickets = self
            .tickets
            .tickets_for(&self.spec, &state, &kind.1, header.slot);
        let (header, post, info) = sealing::seal_header(
            &self.spec,
            &self.ring,
            &self.rule,
            &state,
            *index,
            &secret.bandersnatch,
            kind,
            tickets,
            header,
        )
        .map_err(|e| PluginError::internal(format!("sealing: {e}")))?;
        self.counters.authored += 1;
        self.checked.insert(header.hash(), (Arc::new(post), info));
        Ok(header)
    }

    fn verify_seal(&mut self, header: &Header) -> Result<SealInfo, PluginError> {
        let hash = header.hash();
        if let Some(b) = self.blocks.get(&hash) {
            return Ok(SealInfo {
                author: b.header.author,
                ticketed: b.ticketed,
            });
        }
        if let Some((_, info)) = self.checked.get(&hash) {
            return Ok(*info);
        }
        let (info, post) = self.check(header)?;
        self.checked.insert(hash, (Arc::new(post), info));
        Ok(info)
    }

    fn verify_justification(
        &mut self,
        hash: &Hash,
        justification: &[u8],
    ) -> Result<(), PluginError> {
        let cert: Certificate = decode_exact(justification)
            .map_err(|e| PluginError::invalid_input(format!("justification: {e}")))?;
        if cert.subject.hash != *hash || cert.subject.kind != FINALIZE {
            return Err(PluginError::rejected(
                "justification is not a FINALIZE certificate for this block",
            ));
        }
        if let Some(b) = self.blocks.get(hash) {
            if b.header.post_state_root != cert.subject.root || b.header.slot != cert.subject.slot {
                return Err(PluginError::rejected(
                    "certificate's slot or state root differs from the header's",
                ));
            }
        }
        let keys = self.keys.as_ref().ok_or_else(no_key)?;
        verify_certificate(&cert, &self.genesis, keys)
            .map_err(|e| PluginError::rejected(e.to_string()))
    }

    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        // The vote journal (what this node signed) must survive a restart (invariant I5). The
        // final block and its descendants (all that pruning keeps) come too, with their
        // Safrole states: the host restores its finalized chain from its own disk without
        // replaying it through the plugin, so a restarted node must be able to check the next
        // block's seal on top of them. Certificates come back from peers and sync.
        let mut blocks: Vec<&Block> = self.blocks.values().collect();
        blocks.sort_by_key(|b| (b.header.slot, b.header.author));
        let votes: Vec<String> = self
            .my_votes
            .values()
            .flatten()
            .map(|v| hex::encode(v.encode()))
            .collect();
        // The key too: a restarted validator keeps its DKG share (the snapshot is therefore as
        // secret as the validator's key file). Dealer keys are re-derived, not stored.
        let keys = match (&self.keys, self.params.keys) {
            (Some(k), KeySource::Dkg) => Some(StoredKeys {
                group: hex::encode(k.group.compress().as_bytes()),
                sets: self
                    .sharings
                    .values()
                    .map(|ks| StoredSet {
                        id: ks.id,
                        share: self
                            .my_shares
                            .get(&ks.id)
                            .map(|x| hex::encode(x.as_bytes())),
                        shares: ks
                            .shares
                            .iter()
                            .map(|y| hex::encode(y.compress().as_bytes()))
                            .collect(),
                    })
                    .collect(),
            }),
            _ => None,
        };
        serde_json::to_vec(&serde_json::json!({
            "genesis": self.genesis.to_hex(),
            "keys": keys,
            "votes": votes,
            "finalized": self.finalized.to_hex(),
            "finalized_slot": self.finalized_slot,
            "blocks": blocks,
            "own_tickets": self.tickets.own(),
        }))
        .map_err(|e| PluginError::internal(format!("snapshot: {e}")))
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), PluginError> {
        self.restored = true;
        #[derive(Deserialize)]
        struct Snap {
            genesis: String,
            votes: Vec<String>,
            #[serde(default)]
            finalized: Option<Hash>,
            #[serde(default)]
            finalized_slot: Slot,
            #[serde(default)]
            blocks: Vec<Block>,
            #[serde(default)]
            keys: Option<StoredKeys>,
            #[serde(default)]
            own_tickets: Vec<(TicketContext, B32, u8)>,
        }
        let s: Snap = serde_json::from_slice(snapshot)
            .map_err(|e| PluginError::invalid_input(format!("snapshot: {e}")))?;
        if s.genesis != self.genesis.to_hex() {
            return Err(PluginError::invalid_input("snapshot of another chain"));
        }
        for v in s.votes {
            let bytes = hex::decode(v)
                .map_err(|e| PluginError::invalid_input(format!("snapshot vote: {e}")))?;
            let vote: Vote = decode_exact(&bytes)
                .map_err(|e| PluginError::invalid_input(format!("snapshot vote: {e}")))?;
            self.remember_own(vote);
        }
        for b in s.blocks {
            self.blocks.insert(b.header.hash(), b);
        }
        self.tickets.restore_own(&self.spec, s.own_tickets);
        if let (Some(k), KeySource::Dkg) = (s.keys, self.params.keys) {
            let sets = k.load(self.threshold, self.rule.validators)?;
            for (ks, x) in sets {
                if let Some(x) = x {
                    self.my_shares.insert(ks.id, x);
                }
                if ks.id == 0 {
                    self.keys = Some(ks.clone());
                }
                self.sharings.insert(ks.id, ks);
            }
            if self.keys.is_none() {
                return Err(PluginError::invalid_input("snapshot keys lack sharing 0"));
            }
        }
        if let Some(fin) = s.finalized {
            if !self.blocks.contains_key(&fin) {
                return Err(PluginError::invalid_input(
                    "snapshot lacks its finalized block",
                ));
            }
            self.finalized = fin;
            self.finalized_slot = s.finalized_slot;
            self.best = fin;
        }
        Ok(())
    }
}
