//! `diverge-safrole`: Safrole (Gray Paper section 6), who may seal each slot, decided by
//! anonymous tickets, as a library shared by the consensus plugins that seal with it
//! (`consensus-safrole`, `consensus-ssf`). A plugin crate cannot link another plugin crate (both
//! would export the plugin root module), hence this crate.
//!
//! - [`types`]: state, input, output and error codes in the JAM vectors' shape.
//! - [`ring`]: the Bandersnatch ring VRF for tickets (ark-vrf 0.1.0, Zcash SRS).
//! - [`codec`]: the JAM-codec (`.bin`) form of the vectors.
//! - [`sequence`]: the outside-in sequencer Z (eq. 6.25) and fallback keys F (eq. 6.26).
//! - [`stf`]: the state transition.
//! - [`seal`]: block seals and the entropy VRF (IETF VRF, eqs. 6.15-6.17).
//! - [`tickets`]: ticket generation (the ring VRF prover).
//! - [`trace`]: the JAM block-import traces: decoding and Safrole replay.
//! - [`digest`]: the header digest (entropy VRF, tickets, markers) in wire form.
//! - [`sealing`]: slot contexts, sealing and checking a header on its parent's state.
//! - [`pool`]: the ticket pool (own tickets proven, gossiped ones checked, a block's choice).
//! - [`keys`], [`srs`]: a node's secrets from its seed, the embedded SRS.

pub mod codec;
pub mod digest;
pub mod keys;
pub mod pool;
pub mod ring;
pub mod seal;
pub mod sealing;
pub mod sequence;
pub mod srs;
pub mod stf;
pub mod tickets;
pub mod trace;
pub mod types;
