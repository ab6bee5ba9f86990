//! `tracing` for a node whose plugins are sans-IO across an FFI boundary: the plugins cannot
//! open spans of their own (they have no subscriber, and their clock is the host's), so the
//! host does it for them.
//!
//! - Every plugin call runs inside a `DEBUG` span named after the call (`consensus.on_event`,
//!   `da.verify_shard`, `exec.validate`, ...; target `diverge::plugin`): wrappers around the
//!   three plugin objects, so the block pipeline in `core` is unchanged.
//! - Every `Telemetry` action of the consensus plugin becomes an `INFO` event *named* after the
//!   telemetry (`consensus.grandpa.precommit`, `consensus.ssf.certificate`, ...), with that
//!   name as its target too (so `RUST_LOG=consensus.grandpa=info` selects it and the text log
//!   shows it) and one field per key of the telemetry's JSON object, emitted inside the
//!   `consensus.on_event` span that produced it.
//!
//! Event names in `tracing` are `&'static str` fixed at a callsite. The host does not know the
//! plugins' telemetry vocabulary (plugins are swappable), so it builds callsites at run time:
//! one per distinct (name, field keys), leaked once and cached. A plugin could invent names
//! without end, so the cache is bounded ([`MAX_CALLSITES`]) and names and keys are checked;
//! anything beyond goes out as one generic `telemetry` event with the name as a field.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use diverge_plugins::consensus::{Action, Event, SealInfo, Time};
use diverge_plugins::exec::{ExecOutput, ValidateRequest, Verdict};
use diverge_plugins::{
    CheckedShard, Consensus, DaShape, DataAvailability, Encoded, ErrorKind, Executor, Hash, Header,
    PluginError,
};
use tracing::callsite::{Callsite, Identifier};
use tracing::field::{FieldSet, Value};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};

/// Distinct (name, keys) callsites built at run time; beyond it, the generic event.
pub const MAX_CALLSITES: usize = 512;
/// Longest telemetry name or field key given a callsite of its own.
const MAX_NAME: usize = 96;
/// Most fields given a callsite of their own.
const MAX_FIELDS: usize = 32;
/// The target of the plugin-call spans.
pub const PLUGIN_TARGET: &str = "diverge::plugin";

/// A callsite made at run time. Its metadata names the callsite itself, so it is set right
/// after the callsite is leaked and before it is registered or used.
struct DynCallsite {
    meta: OnceLock<Metadata<'static>>,
}

impl Callsite for DynCallsite {
    // Interest is asked of the current dispatcher on every emit instead of cached here.
    fn set_interest(&self, _interest: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        self.meta.get().unwrap_or(&UNSET_META)
    }
}

/// Only seen if `metadata` were asked before it is set, which `callsite` rules out.
static UNSET_CALLSITE: DynCallsite = DynCallsite {
    meta: OnceLock::new(),
};
static UNSET_META: Metadata<'static> = Metadata::new(
    "telemetry",
    "telemetry",
    Level::INFO,
    None,
    None,
    None,
    FieldSet::new(&[], Identifier(&UNSET_CALLSITE)),
    Kind::EVENT,
);

type CallsiteKey = (String, Vec<String>);

fn callsites() -> &'static Mutex<HashMap<CallsiteKey, &'static Metadata<'static>>> {
    static CACHE: OnceLock<Mutex<HashMap<CallsiteKey, &'static Metadata<'static>>>> =
        OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Names and keys that may become callsites: short, dotted identifiers.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The event callsite for telemetry `name` with fields `keys` (in this order), made on first
/// use; `None` when the name or keys are not plain or the cache is full.
fn callsite(name: &str, keys: &[&str]) -> Option<&'static Metadata<'static>> {
    if !plain(name) || keys.len() > MAX_FIELDS || !keys.iter().all(|k| plain(k)) {
        return None;
    }
    let key = (
        name.to_string(),
        keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
    );
    let mut cache = callsites().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = cache.get(&key) {
        return Some(m);
    }
    if cache.len() >= MAX_CALLSITES {
        return None;
    }
    // Leaked on purpose: a callsite must live for the rest of the process (subscribers keep
    // references to it), and there are at most MAX_CALLSITES of them.
    let name: &'static str = Box::leak(key.0.clone().into_boxed_str());
    let fields: &'static [&'static str] = Box::leak(
        key.1
            .iter()
            .map(|k| &*Box::leak(k.clone().into_boxed_str()))
            .collect::<Vec<&'static str>>()
            .into_boxed_slice(),
    );
    let cs: &'static DynCallsite = Box::leak(Box::new(DynCallsite {
        meta: OnceLock::new(),
    }));
    let meta = cs.meta.get_or_init(|| {
        Metadata::new(
            name,
            name,
            Level::INFO,
            None,
            None,
            None,
            FieldSet::new(fields, Identifier(cs)),
            Kind::EVENT,
        )
    });
    tracing::callsite::register(cs);
    cache.insert(key, meta);
    Some(meta)
}

/// A JSON value as something `tracing` records natively.
enum FieldValue {
    U(u64),
    I(i64),
    F(f64),
    B(bool),
    S(String),
}

impl FieldValue {
    fn of(v: &serde_json::Value) -> FieldValue {
        match v {
            serde_json::Value::Bool(b) => FieldValue::B(*b),
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(FieldValue::U)
                .or_else(|| n.as_i64().map(FieldValue::I))
                .or_else(|| n.as_f64().map(FieldValue::F))
                .unwrap_or_else(|| FieldValue::S(n.to_string())),
            serde_json::Value::String(s) => FieldValue::S(s.clone()),
            other => FieldValue::S(other.to_string()),
        }
    }

    fn as_value(&self) -> &dyn Value {
        match self {
            FieldValue::U(v) => v,
            FieldValue::I(v) => v,
            FieldValue::F(v) => v,
            FieldValue::B(v) => v,
            FieldValue::S(v) => v,
        }
    }
}

/// Emits one consensus telemetry record as a `tracing` event named `name` (see the module
/// docs). `fields_json` is the plugin's JSON; a non-object is recorded as one `fields` value.
pub fn emit_telemetry(name: &str, fields_json: &str) {
    if tracing::level_filters::LevelFilter::current() < Level::INFO {
        return;
    }
    let parsed: serde_json::Value = serde_json::from_str(fields_json)
        .unwrap_or_else(|_| serde_json::Value::String(fields_json.to_string()));
    let object = match parsed {
        serde_json::Value::Object(m) => m,
        other => {
            let mut m = serde_json::Map::new();
            m.insert("fields".into(), other);
            m
        }
    };
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    let Some(meta) = callsite(name, &keys) else {
        tracing::info!(
            target: "telemetry",
            telemetry = name,
            fields = %serde_json::Value::Object(object),
            "plugin telemetry"
        );
        return;
    };
    if !tracing::dispatcher::get_default(|d| d.enabled(meta)) {
        return;
    }
    let values: Vec<FieldValue> = object.values().map(FieldValue::of).collect();
    let refs: Vec<Option<&dyn Value>> = values.iter().map(|v| Some(v.as_value())).collect();
    // `value_set_all` takes exactly one value per field of the set, in its order: the keys
    // the callsite was made from, which are `object`'s keys in iteration order.
    let set = meta.fields().value_set_all(&refs);
    tracing::Event::dispatch(meta, &set);
}

fn event_kind(e: &Event) -> &'static str {
    match e {
        Event::Tick { .. } => "tick",
        Event::Timer { .. } => "timer",
        Event::Message { .. } => "message",
        Event::BlockImported { .. } => "block_imported",
        Event::BlockAvailable { .. } => "block_available",
        Event::BlockValidated { .. } => "block_validated",
        Event::Justification { .. } => "justification",
        Event::Journal { .. } => "journal",
    }
}

/// Plugin calls that take longer than this are logged at `WARN` and counted ([`slow_calls`]).
/// Calls are in-process and synchronous, so a slow plugin cannot be interrupted (no safe way
/// to stop a thread inside foreign code); the host can only notice, tell, and carry on. One
/// second is a whole slot at the fastest config; the slowest honest call measured (a ring-VRF
/// ticket proof at V = 1023) is about 0.6 s.
pub const SLOW_CALL: std::time::Duration = std::time::Duration::from_secs(1);

/// Process-wide: one node per process (the simulator runs untraced plugins, so it never
/// touches these).
static FAULTS: AtomicU64 = AtomicU64::new(0);
static SLOW: AtomicU64 = AtomicU64::new(0);

/// Plugin calls that failed through the plugin's own fault (a panic caught at the boundary,
/// an internal error, undecodable answers) since the process started.
pub fn plugin_faults() -> u64 {
    FAULTS.load(Ordering::Relaxed)
}

/// Plugin calls slower than [`SLOW_CALL`] since the process started.
pub fn slow_calls() -> u64 {
    SLOW.load(Ordering::Relaxed)
}

/// Whether an error is the plugin's fault rather than its verdict on bad input.
pub fn is_plugin_fault(e: &PluginError) -> bool {
    matches!(e.kind, ErrorKind::Panicked | ErrorKind::Internal)
}

/// Runs one plugin call inside its span: times it, and reports errors. Rejections are `DEBUG`,
/// because most are the expected answer to bad input from the network (the core counts and
/// logs those as rejections); plugin faults are `WARN` and counted.
fn note<T>(
    call: &'static str,
    f: impl FnOnce() -> Result<T, PluginError>,
) -> Result<T, PluginError> {
    let start = std::time::Instant::now();
    let r = f();
    let took = start.elapsed();
    if took > SLOW_CALL {
        SLOW.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(target: PLUGIN_TARGET, call, took_ms = took.as_millis() as u64, "slow plugin call");
    }
    if let Err(e) = &r {
        if is_plugin_fault(e) {
            FAULTS.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target: PLUGIN_TARGET, call, kind = ?e.kind, error = %e, "plugin fault");
        } else {
            tracing::debug!(target: PLUGIN_TARGET, call, error = %e, "plugin call failed");
        }
    }
    r
}

/// The consensus plugin with a span per call and its telemetry as events.
pub struct TracedConsensus(pub Box<dyn Consensus>);

impl std::fmt::Debug for TracedConsensus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TracedConsensus")
    }
}

impl Consensus for TracedConsensus {
    fn on_event(&mut self, now: Time, event: Event) -> Result<Vec<Action>, PluginError> {
        let span = tracing::debug_span!(
            target: PLUGIN_TARGET,
            "consensus.on_event",
            event = event_kind(&event),
            now_us = now
        );
        let _entered = span.enter();
        let actions = note("consensus.on_event", || self.0.on_event(now, event))?;
        for a in &actions {
            if let Action::Telemetry { name, fields_json } = a {
                emit_telemetry(name, fields_json);
            }
        }
        Ok(actions)
    }

    fn seal(&mut self, now: Time, header: Header) -> Result<Header, PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "consensus.seal", slot = header.slot)
            .entered();
        note("consensus.seal", || self.0.seal(now, header))
    }

    fn verify_seal(&mut self, header: &Header) -> Result<SealInfo, PluginError> {
        let _s = tracing::debug_span!(
            target: PLUGIN_TARGET,
            "consensus.verify_seal",
            slot = header.slot,
            author = header.author
        )
        .entered();
        note("consensus.verify_seal", || self.0.verify_seal(header))
    }

    fn verify_justification(
        &mut self,
        hash: &Hash,
        justification: &[u8],
    ) -> Result<(), PluginError> {
        let _s =
            tracing::debug_span!(target: PLUGIN_TARGET, "consensus.verify_justification").entered();
        note("consensus.verify_justification", || {
            self.0.verify_justification(hash, justification)
        })
    }

    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "consensus.snapshot").entered();
        note("consensus.snapshot", || self.0.snapshot())
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "consensus.restore").entered();
        note("consensus.restore", || self.0.restore(snapshot))
    }
}

/// The DA plugin with a span per call.
pub struct TracedDa(pub Box<dyn DataAvailability>);

impl std::fmt::Debug for TracedDa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TracedDa")
    }
}

impl DataAvailability for TracedDa {
    fn shape(&self) -> DaShape {
        self.0.shape()
    }

    fn encode(&self, data: &[u8]) -> Result<Encoded, PluginError> {
        let _s =
            tracing::debug_span!(target: PLUGIN_TARGET, "da.encode", bytes = data.len()).entered();
        note("da.encode", || self.0.encode(data))
    }

    fn verify_shard(&self, commitment: &[u8], index: u32, shard: &[u8]) -> Result<(), PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "da.verify_shard", index).entered();
        note("da.verify_shard", || {
            self.0.verify_shard(commitment, index, shard)
        })
    }

    fn decode(&self, commitment: &[u8], shards: &[CheckedShard]) -> Result<Vec<u8>, PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "da.decode", shards = shards.len())
            .entered();
        note("da.decode", || self.0.decode(commitment, shards))
    }

    fn sample(&self, commitment: &[u8], seed: &[u8; 32]) -> Result<Vec<u32>, PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "da.sample").entered();
        note("da.sample", || self.0.sample(commitment, seed))
    }
}

/// The exec plugin with a span per call.
pub struct TracedExec(pub Box<dyn Executor>);

impl std::fmt::Debug for TracedExec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TracedExec")
    }
}

impl Executor for TracedExec {
    fn genesis_state_root(&mut self) -> Result<Hash, PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "exec.genesis_state_root").entered();
        note("exec.genesis_state_root", || self.0.genesis_state_root())
    }

    fn execute(
        &mut self,
        pre_state_root: &Hash,
        payload: &[u8],
    ) -> Result<ExecOutput, PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "exec.execute", bytes = payload.len())
            .entered();
        note("exec.execute", || self.0.execute(pre_state_root, payload))
    }

    fn validate(&mut self, request: ValidateRequest) -> Result<Verdict, PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "exec.validate").entered();
        note("exec.validate", || self.0.validate(request))
    }

    fn retain(&mut self, roots: &[Hash]) -> Result<(), PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "exec.retain", roots = roots.len())
            .entered();
        note("exec.retain", || self.0.retain(roots))
    }

    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "exec.snapshot").entered();
        note("exec.snapshot", || self.0.snapshot())
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), PluginError> {
        let _s = tracing::debug_span!(target: PLUGIN_TARGET, "exec.restore").entered();
        note("exec.restore", || self.0.restore(snapshot))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    use super::*;

    /// What a test subscriber saw of one event.
    #[derive(Debug, Clone)]
    struct Seen {
        name: String,
        target: String,
        fields: Vec<(String, String)>,
        spans: Vec<String>,
    }

    impl Seen {
        fn field(&self, k: &str) -> Option<&str> {
            self.fields
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        }
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Seen>>>);

    struct Fields(Vec<(String, String)>);

    impl tracing::field::Visit for Fields {
        fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
            self.0.push((f.name().to_string(), format!("{v:?}")));
        }
        fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
            self.0.push((f.name().to_string(), v.to_string()));
        }
    }

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            let spans = ctx
                .event_scope(event)
                .map(|s| s.from_root().map(|x| x.name().to_string()).collect())
                .unwrap_or_default();
            self.0.lock().expect("capture").push(Seen {
                name: event.metadata().name().to_string(),
                target: event.metadata().target().to_string(),
                fields: fields.0,
                spans,
            });
        }
    }

    fn capture(filter: &str, f: impl FnOnce()) -> Vec<Seen> {
        let cap = Capture::default();
        let sub = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(filter))
            .with(cap.clone());
        tracing::subscriber::with_default(sub, f);
        let seen = cap.0.lock().expect("capture").clone();
        seen
    }

    /// A consensus plugin that answers every event with one GRANDPA step of telemetry.
    struct Fake;

    impl Consensus for Fake {
        fn on_event(&mut self, _now: Time, _event: Event) -> Result<Vec<Action>, PluginError> {
            Ok(vec![
                Action::Telemetry {
                    name: "consensus.grandpa.precommit".into(),
                    fields_json: r#"{"round":3,"voter":1,"target":"0xab","number":7}"#.into(),
                },
                Action::Telemetry {
                    name: "consensus.ssf.certificate".into(),
                    fields_json: r#"{"slot":4,"kind":"finalize","ok":true,"ratio":0.5}"#.into(),
                },
            ])
        }
        fn seal(&mut self, _now: Time, header: Header) -> Result<Header, PluginError> {
            Ok(header)
        }
        fn verify_seal(&mut self, _header: &Header) -> Result<SealInfo, PluginError> {
            Err(PluginError::rejected("no"))
        }
        fn verify_justification(&mut self, _h: &Hash, _j: &[u8]) -> Result<(), PluginError> {
            Ok(())
        }
        fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
            Ok(Vec::new())
        }
        fn restore(&mut self, _snapshot: &[u8]) -> Result<(), PluginError> {
            Ok(())
        }
    }

    #[test]
    fn telemetry_becomes_an_event_of_its_name_inside_the_plugin_call_span() {
        let seen = capture("debug", || {
            let mut c = TracedConsensus(Box::new(Fake));
            let actions = c.on_event(5, Event::Tick { slot: 1 }).expect("on_event");
            // The actions still reach the core untouched (it logs them to events.jsonl).
            assert_eq!(actions.len(), 2);
        });
        let pre = seen
            .iter()
            .find(|s| s.name == "consensus.grandpa.precommit")
            .unwrap_or_else(|| panic!("no precommit event in {seen:?}"));
        assert_eq!(pre.target, "consensus.grandpa.precommit");
        assert_eq!(pre.field("round"), Some("3"));
        assert_eq!(pre.field("voter"), Some("1"));
        assert_eq!(pre.field("target"), Some("0xab"));
        assert_eq!(pre.field("number"), Some("7"));
        assert_eq!(pre.spans, vec!["consensus.on_event".to_string()]);
        let cert = seen
            .iter()
            .find(|s| s.name == "consensus.ssf.certificate")
            .unwrap_or_else(|| panic!("no certificate event in {seen:?}"));
        assert_eq!(cert.field("ok"), Some("true"));
        assert_eq!(cert.field("ratio"), Some("0.5"));
        assert_eq!(cert.field("kind"), Some("finalize"));
    }

    #[test]
    fn rust_log_selects_telemetry_by_its_dotted_name() {
        let seen = capture("warn,consensus.grandpa=info", || {
            let mut c = TracedConsensus(Box::new(Fake));
            c.on_event(5, Event::Tick { slot: 1 }).expect("on_event");
            // Same name, same keys: the cached callsite again.
            c.on_event(6, Event::Tick { slot: 2 }).expect("on_event");
        });
        let names: Vec<&str> = seen.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["consensus.grandpa.precommit", "consensus.grandpa.precommit"],
            "{seen:?}"
        );
        // The span is DEBUG, so at this filter the events carry no span.
        assert!(seen.iter().all(|s| s.spans.is_empty()), "{seen:?}");
    }

    #[test]
    fn plugin_calls_are_spans_and_their_errors_debug_events() {
        let seen = capture("debug", || {
            let mut c = TracedConsensus(Box::new(Fake));
            let header = Header {
                parent: Hash::ZERO,
                slot: 9,
                author: 2,
                payload_hash: Hash::ZERO,
                da_commitment: Vec::new(),
                post_state_root: Hash::ZERO,
                digest: Vec::new(),
                seal: Vec::new(),
            };
            assert!(c.verify_seal(&header).is_err());
        });
        let e = seen
            .iter()
            .find(|s| s.field("call") == Some("consensus.verify_seal"))
            .unwrap_or_else(|| panic!("no error event in {seen:?}"));
        assert_eq!(e.spans, vec!["consensus.verify_seal".to_string()]);
        assert!(e.field("error").is_some_and(|m| m.contains("no")), "{e:?}");
    }

    #[test]
    fn odd_names_and_non_objects_fall_back_to_one_generic_event() {
        let seen = capture("info", || {
            emit_telemetry("has space", r#"{"a":1}"#);
            emit_telemetry("consensus.x", "not json");
            emit_telemetry(&"n".repeat(MAX_NAME + 1), "{}");
        });
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0].target, "telemetry");
        assert_eq!(seen[0].field("telemetry"), Some("has space"));
        // A plain name with a non-object body gets its own callsite with one `fields` value.
        assert_eq!(seen[1].name, "consensus.x");
        assert_eq!(seen[1].field("fields"), Some("not json"));
        assert_eq!(seen[2].target, "telemetry");
        assert!(!plain("") && !plain("a\nb") && plain("consensus.grandpa.round"));
    }

    #[test]
    fn nothing_is_built_or_sent_below_the_level() {
        let seen = capture("warn", || {
            emit_telemetry("consensus.quiet", r#"{"a":1}"#);
        });
        assert!(seen.is_empty(), "{seen:?}");
    }
}
