//! The plugin's conformance suites, run by `diverge conformance <suite> <DIR>` through the
//! loaded library:
//!
//! - `safrole` judges one JAM Safrole STF vector file (JSON or JAM codec; the chain spec, tiny
//!   or full, is read off the data);
//! - `safrole-trace` imports one block of a JAM block-import trace (`traces/safrole/NNNNNNNN.bin`)
//!   on the step's own pre-state: seal, entropy VRF, markers, and the Safrole part of the
//!   post-state must all match. (The crate's tests also replay the whole trace carrying the
//!   state from block to block.)

use diverge_plugins::{CaseFormat, CaseOutcome, PluginError};
use serde::Deserialize;

use crate::safrole::codec::decode_case_any;
use crate::safrole::stf::{transition, Spec};
use crate::safrole::types::{ErrorCode, Input, Output, State};

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Ok(Output),
    Err(ErrorCode),
}

#[derive(Deserialize)]
struct JsonCase {
    input: Input,
    pre_state: State,
    output: Outcome,
    post_state: State,
}

/// The spec of a case with `validators` validators and `epoch_len`-slot epochs: JAM's tiny and
/// full are the only specs the vectors are published for; others get N and K of the nearer.
fn spec_for(validators: usize, epoch_len: usize) -> Spec {
    match (validators, epoch_len) {
        (6, 12) => Spec::TINY,
        (1023, 600) => Spec::FULL,
        (_, e) => {
            let base = if validators < 1023 {
                Spec::TINY
            } else {
                Spec::FULL
            };
            let e = e as u32;
            Spec {
                epoch_len: e,
                ticket_end: (e * 5).div_ceil(6),
                ..base
            }
        }
    }
}

/// Judges one Safrole STF vector.
pub fn judge_safrole(format: CaseFormat, bytes: &[u8]) -> Result<CaseOutcome, PluginError> {
    let (input, pre, expected, post_expected, v, e) = match format {
        CaseFormat::Binary => {
            let (case, v, e) = decode_case_any(bytes)
                .map_err(|err| PluginError::invalid_input(format!("safrole case: {err}")))?;
            (
                case.input,
                case.pre_state,
                case.output,
                case.post_state,
                v,
                e,
            )
        }
        CaseFormat::Json => {
            let case: JsonCase = serde_json::from_slice(bytes).map_err(|err| {
                PluginError::unsupported(format!("not a safrole STF case: {err}"))
            })?;
            let v = case.pre_state.kappa.len();
            let e = match &case.pre_state.gamma_s {
                crate::safrole::types::SealKeys::Tickets(t) => t.len(),
                crate::safrole::types::SealKeys::Keys(k) => k.len(),
            };
            let out = match case.output {
                Outcome::Ok(o) => Ok(o),
                Outcome::Err(c) => Err(c),
            };
            (case.input, case.pre_state, out, case.post_state, v, e)
        }
    };
    let spec = spec_for(v, e);
    let ring = crate::srs::ring_context(v)
        .map_err(|err| PluginError::internal(format!("ring of {v}: {err}")))?;
    let label = format!("V={v} E={e}");
    let got = transition(&spec, &ring, &pre, &input);
    let verdict = match (got, expected) {
        (Ok((post, out)), Ok(want)) => {
            if out != want {
                CaseOutcome::Fail {
                    detail: format!("{label}: output markers differ"),
                }
            } else if post != post_expected {
                CaseOutcome::Fail {
                    detail: format!("{label}: {}", first_difference(&post, &post_expected)),
                }
            } else {
                CaseOutcome::Pass {
                    detail: format!("{label}: ok, {} tickets", input.extrinsic.len()),
                }
            }
        }
        (Err(code), Err(want)) if code == want => CaseOutcome::Pass {
            detail: format!("{label}: error {code} as expected"),
        },
        (Err(code), Err(want)) => CaseOutcome::Fail {
            detail: format!("{label}: error {code}, expected {want}"),
        },
        (Ok(_), Err(want)) => CaseOutcome::Fail {
            detail: format!("{label}: accepted, expected error {want}"),
        },
        (Err(code), Ok(_)) => CaseOutcome::Fail {
            detail: format!("{label}: error {code}, expected ok"),
        },
    };
    Ok(verdict)
}

/// Names the first state component that differs, for one-line failure reports.
fn first_difference(got: &State, want: &State) -> String {
    let parts: [(&str, bool); 10] = [
        ("tau", got.tau == want.tau),
        ("eta", got.eta == want.eta),
        ("lambda", got.lambda == want.lambda),
        ("kappa", got.kappa == want.kappa),
        ("gamma_k", got.gamma_k == want.gamma_k),
        ("iota", got.iota == want.iota),
        ("gamma_a", got.gamma_a == want.gamma_a),
        ("gamma_s", got.gamma_s == want.gamma_s),
        ("gamma_z", got.gamma_z == want.gamma_z),
        ("post_offenders", got.post_offenders == want.post_offenders),
    ];
    parts.iter().find(|(_, same)| !same).map_or_else(
        || "post state differs".into(),
        |(n, _)| format!("{n} differs"),
    )
}

/// Judges one step of a block-import trace (tiny: the public traces use no other spec).
pub fn judge_trace(format: CaseFormat, bytes: &[u8]) -> Result<CaseOutcome, PluginError> {
    use crate::safrole::trace::{decode_step, replay_step, TraceParams};
    if format != CaseFormat::Binary {
        return Err(PluginError::unsupported(
            "the trace suite reads the JAM-codec (.bin) steps",
        ));
    }
    let p = TraceParams::TINY;
    let slot = match decode_step(bytes, &p) {
        Ok(step) => step.block.header.slot,
        Err(e) => {
            // genesis.bin and other files of a trace directory are not steps.
            return Err(PluginError::unsupported(format!("not a trace step: {e}")));
        }
    };
    let ring = crate::srs::ring_context(p.validators)
        .map_err(|err| PluginError::internal(format!("ring: {err}")))?;
    Ok(match replay_step(&p, &ring, None, bytes) {
        Ok(imported) => CaseOutcome::Pass {
            detail: format!("slot {slot}: {:?} seal, post-state matches", imported.kind),
        },
        Err(e) => CaseOutcome::Fail {
            detail: format!("slot {slot}: {e}"),
        },
    })
}
