//! Safrole (Gray Paper section 6): the pieces built so far.
//!
//! - [`sequence`]: the outside-in sequencer Z (eq. 6.25) and the fallback key sequence F
//!   (eq. 6.26) that decide who seals each slot of an epoch.

pub mod sequence;
