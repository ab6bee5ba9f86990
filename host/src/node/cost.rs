//! The CPU cost model the simulator charges plugin calls by.
//!
//! In a real process a plugin call takes the time it takes, and [`super::core::NodeCore`]
//! reports the measured wall time. In virtual time that would break replay: measured time
//! differs between runs, so the same seed would give a different schedule (`sim.md` measured
//! exactly that). So the simulator gives the core a [`CostModel`] instead: every call is charged
//! `base_us + per_unit_us * units + per_validator_us * V`, where `units` is the call's natural
//! size (gas, bytes), and the node's clock is busy for that long. The numbers ship in
//! `configs/costs.toml`, each taken from a `cargo bench` of the plugin on this project's 2-core
//! reference machine, and can be re-measured and replaced.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// A plugin call the core makes (or a piece of work a plugin reports through telemetry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Call {
    /// `exec.execute`, units: payload bytes.
    Execute,
    /// `exec.validate`, units: payload bytes.
    Validate,
    /// `da.encode`, units: payload bytes.
    Encode,
    /// `da.verify_shard`, units: shard bytes.
    VerifyShard,
    /// `consensus.seal`.
    Seal,
    /// `consensus.verify_seal`, units: header digest bytes (ticket proofs live there).
    VerifySeal,
    /// A consensus message, units: its bytes.
    Message,
    /// Any other consensus event (tick, timer, import, verdict, availability).
    Event,
    /// One ring-VRF ticket proved (reported by the plugin as telemetry `work`).
    TicketProve,
    /// One ring-proof check of a gossiped ticket (reported as telemetry `work`; a ticket may
    /// cost two, one per entropy it is tried under).
    TicketVerify,
    /// One vote signature checked (reported by the engine, [`diverge_plugins::work`]).
    VoteCheck,
    /// One aggregate certificate check, its fixed part (reported).
    CertificateCheck,
    /// One contribution of an aggregate certificate check (reported).
    ContributionCheck,
}

impl Call {
    /// Every call, in table order.
    pub const ALL: [Call; 13] = [
        Call::Execute,
        Call::Validate,
        Call::Encode,
        Call::VerifyShard,
        Call::Seal,
        Call::VerifySeal,
        Call::Message,
        Call::Event,
        Call::TicketProve,
        Call::TicketVerify,
        Call::VoteCheck,
        Call::CertificateCheck,
        Call::ContributionCheck,
    ];

    /// Its key in `costs.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Call::Execute => "exec.execute",
            Call::Validate => "exec.validate",
            Call::Encode => "da.encode",
            Call::VerifyShard => "da.verify_shard",
            Call::Seal => "consensus.seal",
            Call::VerifySeal => "consensus.verify_seal",
            Call::Message => "consensus.message",
            Call::Event => "consensus.event",
            Call::TicketProve => "consensus.ticket_prove",
            Call::TicketVerify => "consensus.ticket_verify",
            Call::VoteCheck => diverge_plugins::work::VOTE_CHECK,
            Call::CertificateCheck => diverge_plugins::work::CERTIFICATE_CHECK,
            Call::ContributionCheck => diverge_plugins::work::CONTRIBUTION_CHECK,
        }
    }

    /// The work a plugin reported in a telemetry event's `work` field (`{"consensus.ticket_verify":
    /// 2}`: call key to count): what it did inside one call that the host cannot see, priced
    /// by the model. Only calls the host does not already charge itself may be reported, and
    /// counts are capped, so a confused plugin can skew its own node's clock but not overflow it.
    pub fn reported_work(fields: &serde_json::Value) -> Vec<(Call, u64)> {
        const MAX_COUNT: u64 = 1 << 16;
        let Some(work) = fields.get("work").and_then(|w| w.as_object()) else {
            return Vec::new();
        };
        work.iter()
            .filter_map(|(k, v)| {
                let call = [
                    Call::TicketProve,
                    Call::TicketVerify,
                    Call::VoteCheck,
                    Call::CertificateCheck,
                    Call::ContributionCheck,
                ]
                .into_iter()
                .find(|c| c.key() == k)?;
                Some((call, v.as_u64()?.min(MAX_COUNT)))
            })
            .collect()
    }

    fn axis(self) -> usize {
        match self {
            Call::Execute | Call::Validate => 2,
            Call::Encode | Call::VerifyShard => 1,
            _ => 0,
        }
    }
}

/// One call's price.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    /// Fixed part (µs).
    #[serde(default)]
    pub base_us: f64,
    /// Per unit of the call's size (µs).
    #[serde(default)]
    pub per_unit_us: f64,
    /// Per validator of the chain (µs): aggregate checks and ring sizes grow with V.
    #[serde(default)]
    pub per_validator_us: f64,
}

/// The file: defaults, then per-plugin overrides keyed by plugin name.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CostFile {
    /// Applies to every plugin unless overridden.
    #[serde(default)]
    pub default: BTreeMap<String, Cost>,
    /// `[plugin."da-zoda2d"]` tables.
    #[serde(default)]
    pub plugin: BTreeMap<String, BTreeMap<String, Cost>>,
}

/// Why a cost file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// Unreadable.
    #[error("cost model {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not the format.
    #[error("cost model {path}: {reason}")]
    Invalid {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl CostFile {
    /// Reads `costs.toml`; unknown call names are refused so a typo cannot silently cost 0.
    pub fn load(path: &Path) -> Result<CostFile, CostError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CostError::Io {
            path: p.clone(),
            source,
        })?;
        let f: CostFile = toml::from_str(&text).map_err(|e| CostError::Invalid {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        let known = |k: &String| Call::ALL.iter().any(|c| c.key() == k);
        for k in f
            .default
            .keys()
            .chain(f.plugin.values().flat_map(|t| t.keys()))
        {
            if !known(k) {
                return Err(CostError::Invalid {
                    path: p,
                    reason: format!(
                        "unknown call {k:?} (known: {})",
                        Call::ALL.map(Call::key).join(", ")
                    ),
                });
            }
        }
        Ok(f)
    }

    /// The model for a node running these (consensus, da, exec) plugins on `validators`.
    pub fn resolve(&self, plugins: [&str; 3], validators: u16) -> CostModel {
        let mut table = [Cost::default(); Call::ALL.len()];
        for (i, c) in Call::ALL.iter().enumerate() {
            let own = self
                .plugin
                .get(plugins[c.axis()])
                .and_then(|t| t.get(c.key()));
            if let Some(cost) = own.or_else(|| self.default.get(c.key())) {
                table[i] = *cost;
            }
        }
        CostModel {
            table,
            validators: f64::from(validators),
        }
    }
}

/// Resolved prices for one node.
#[derive(Clone, Debug, PartialEq)]
pub struct CostModel {
    table: [Cost; Call::ALL.len()],
    validators: f64,
}

impl CostModel {
    /// The charge (whole µs, so replay is exact) for one call of `units` size.
    pub fn cost(&self, call: Call, units: u64) -> u64 {
        let i = Call::ALL.iter().position(|c| *c == call).unwrap_or(0);
        let c = &self.table[i];
        let us = c.base_us + c.per_unit_us * units as f64 + c.per_validator_us * self.validators;
        us.max(0.0).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_work_is_read_by_call_key_only_for_plugin_side_work() {
        let f = serde_json::json!({"attempt": 1, "work": {"consensus.ticket_verify": 2,
            "consensus.ticket_prove": 1, "exec.execute": 9, "consensus.message": 4,
            "nonsense": 3, "consensus.vote_check": 5, "consensus.contribution_check": 683}});
        let mut w = Call::reported_work(&f);
        w.sort();
        // exec.execute and consensus.message are charged by the host itself: a plugin cannot
        // add to them.
        assert_eq!(
            w,
            vec![
                (Call::TicketProve, 1),
                (Call::TicketVerify, 2),
                (Call::VoteCheck, 5),
                (Call::ContributionCheck, 683)
            ]
        );
        assert!(Call::reported_work(&serde_json::json!({"attempt": 1})).is_empty());
        let huge = serde_json::json!({"work": {"consensus.ticket_verify": u64::MAX}});
        assert_eq!(
            Call::reported_work(&huge),
            vec![(Call::TicketVerify, 1 << 16)]
        );
        let bad = serde_json::json!({"work": {"consensus.ticket_verify": -1}});
        assert!(Call::reported_work(&bad).is_empty());
    }

    #[test]
    fn plugin_prices_override_defaults_and_typos_are_refused() {
        let f: CostFile = toml::from_str(
            "[default]\n\"da.encode\" = { base_us = 10, per_unit_us = 0.5 }\n\
             [plugin.\"da-zoda2d\"]\n\"da.encode\" = { base_us = 20, per_unit_us = 1.0, per_validator_us = 2 }\n",
        )
        .expect("test setup");
        let rs = f.resolve(["c", "da-rs1d", "e"], 6);
        let zo = f.resolve(["c", "da-zoda2d", "e"], 6);
        assert_eq!(rs.cost(Call::Encode, 100), 60);
        assert_eq!(zo.cost(Call::Encode, 100), 132);
        assert_eq!(rs.cost(Call::Seal, 5), 0, "an unpriced call is free");
        let dir = tempfile::tempdir().expect("test setup");
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[default]\n\"da.encdoe\" = { base_us = 1 }\n").expect("test setup");
        let e = CostFile::load(&p).expect_err("must fail").to_string();
        assert!(e.contains("unknown call \"da.encdoe\""), "{e}");
    }

    #[test]
    fn the_shipped_cost_file_loads_and_prices_every_call() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/costs.toml");
        let f = CostFile::load(&p).expect("test setup");
        let m = f.resolve(["consensus-safrole", "da-rs1d", "exec-reexec"], 6);
        for c in Call::ALL {
            assert!(m.cost(c, 1000) > 0, "{c:?} has no price");
        }
    }
}
