//! CloudWatch metrics in Embedded Metric Format (EMF): counters and value
//! samples aggregated in memory, written to stdout as JSON lines. Lambda
//! ships stdout to CloudWatch Logs, which extracts the metrics: no network
//! call, no client, nothing that can fail a request.
//!
//! One line is one EMF document: the `_aws` metadata (`Timestamp`, and one
//! directive naming the namespace, the dimension sets and each metric's
//! unit), then the dimension values and the metric values as members of the
//! root. A document holds one value per dimension, so each combination of
//! dimension values that occurred gets its own line; a counter is one number,
//! a distribution an array of at most [`MAX_VALUES`] numbers.
//!
//! Every metric is published under the dimension set `[Function]` and under
//! each longer prefix of its own dimensions (`[Function, Outcome]`,
//! `[Function, Outcome, Reason]`), so totals and breakdowns are both plain
//! metrics an alarm can name.
//!
//! Dimension values are `&'static str`: they come from tables compiled into
//! the functions (an outcome's name, a route template, a status code), never
//! from a request. That is what keeps every dimension low-cardinality and
//! free of tokens and ids.
//!
//! Distributions: an interval can see far more values than EMF takes, so
//! [`Aggregate::sample`] keeps a uniform random sample of at most
//! [`MAX_VALUES`] (reservoir sampling), with the interval's exact maximum
//! always among them. CloudWatch's percentiles over such a metric are
//! percentiles of the samples: good for p50 and p90, coarse for p99 when a
//! process handled many more than 100 values in one interval; `Maximum` is
//! exact; `SampleCount` counts samples, not events (count events with a
//! counter).

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "CogTokens";
/// The dimension every metric has: the function's short name.
pub const FUNCTION: &str = "Function";
/// EMF's limit on the values of one metric in one document.
pub const MAX_VALUES: usize = 100;
/// The most dimensions a series may have besides [`FUNCTION`].
pub const MAX_DIMENSIONS: usize = 3;

/// A dimension's name and value, both compiled in (see the module's docs).
pub type Dimension = (&'static str, &'static str);

/// The units the metrics here use (CloudWatch's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// A series' dimensions besides [`FUNCTION`], in their order.
#[derive(Debug, Clone, Copy)]
struct Dimensions {
    len: usize,
    items: [Dimension; MAX_DIMENSIONS],
}

impl Dimensions {
    /// At most [`MAX_DIMENSIONS`]; more is a programming error, cut off
    /// rather than failing the request that records it.
    fn of(dimensions: &[Dimension]) -> Self {
        debug_assert!(dimensions.len() <= MAX_DIMENSIONS, "{dimensions:?}");
        let mut items = [("", ""); MAX_DIMENSIONS];
        let len = dimensions.len().min(MAX_DIMENSIONS);
        items[..len].copy_from_slice(&dimensions[..len]);
        Self { len, items }
    }

    fn as_slice(&self) -> &[Dimension] {
        &self.items[..self.len]
    }
}

impl PartialEq for Dimensions {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self
                .as_slice()
                .iter()
                .zip(other.as_slice())
                .all(|(a, b)| same(a.0, b.0) && same(a.1, b.1))
    }
}

impl Eq for Dimensions {}

/// String equality that first asks whether both are the same literal: a
/// series is looked up on every request, and `memcmp` on every name and
/// value cost the authorizer a sixth of its time.
fn same(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}

#[derive(Debug, Clone, Copy)]
struct Series {
    metric: &'static str,
    unit: Unit,
    dimensions: Dimensions,
}

impl PartialEq for Series {
    fn eq(&self, other: &Self) -> bool {
        same(self.metric, other.metric)
            && self.unit == other.unit
            && self.dimensions == other.dimensions
    }
}

impl Eq for Series {}

/// Up to [`MAX_VALUES`] values standing for all `seen`: a uniform sample
/// (Vitter's algorithm R), plus the exact maximum.
#[derive(Debug, Clone)]
struct Reservoir {
    values: Vec<f64>,
    seen: u64,
    max: f64,
    rng: SplitMix64,
}

impl Reservoir {
    fn new(seed: u64) -> Self {
        Self {
            values: Vec::new(),
            seen: 0,
            max: f64::NEG_INFINITY,
            rng: SplitMix64(seed),
        }
    }

    fn add(&mut self, value: f64) {
        self.seen += 1;
        if value > self.max {
            self.max = value;
        }
        if self.values.len() < MAX_VALUES {
            self.values.push(value);
            return;
        }
        let slot = self.rng.next() % self.seen;
        if let Some(kept) = self.values.get_mut(slot as usize) {
            *kept = value;
        }
    }

    /// The sample, with the maximum in it (in a random slot if it was not).
    fn into_values(mut self) -> Vec<f64> {
        if !self.values.is_empty() && !self.values.contains(&self.max) {
            let slot = (self.rng.next() % self.values.len() as u64) as usize;
            self.values[slot] = self.max;
        }
        self.values
    }
}

/// A small, fast generator for sampling; nothing secret depends on it.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What was recorded since the last flush: counters and samples per series.
/// A few series per function, so a list searched in order beats hashing.
#[derive(Debug, Clone, Default)]
pub struct Aggregate {
    counters: Vec<(Series, u64)>,
    samples: Vec<(Series, Reservoir)>,
    /// Wall-clock milliseconds of the first and the last record.
    first_at: Option<i64>,
    last_at: i64,
}

impl Aggregate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` to a counter (unit `Count`). `n = 0` still writes the
    /// series, so a metric that stays zero has data points, not gaps.
    pub fn count(&mut self, metric: &'static str, dimensions: &[Dimension], n: u64) {
        let series = Series {
            metric,
            unit: Unit::Count,
            dimensions: Dimensions::of(dimensions),
        };
        match self.counters.iter_mut().find(|(s, _)| *s == series) {
            Some((_, total)) => *total = total.saturating_add(n),
            None => self.counters.push((series, n)),
        }
    }

    /// Adds one value to a distribution.
    pub fn sample(
        &mut self,
        metric: &'static str,
        unit: Unit,
        dimensions: &[Dimension],
        value: f64,
    ) {
        if !value.is_finite() {
            return; // EMF takes numbers only; NaN and infinities would void the line
        }
        let series = Series {
            metric,
            unit,
            dimensions: Dimensions::of(dimensions),
        };
        match self.samples.iter_mut().find(|(s, _)| *s == series) {
            Some((_, reservoir)) => reservoir.add(value),
            None => {
                let mut reservoir = Reservoir::new(0x636F_675F ^ self.samples.len() as u64);
                reservoir.add(value);
                self.samples.push((series, reservoir));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.samples.is_empty()
    }

    /// Notes that something was recorded at `at` (wall-clock milliseconds).
    fn touch(&mut self, at: i64) {
        self.first_at.get_or_insert(at);
        self.last_at = self.last_at.max(at);
    }

    /// The EMF lines for everything recorded, timestamped `at` (wall-clock
    /// milliseconds): one per combination of dimension values.
    pub fn lines(self, function: &'static str, at: i64) -> Vec<String> {
        // In order of first record.
        let mut documents: Vec<(Dimensions, Vec<MetricValue>)> = Vec::new();
        let counters = self
            .counters
            .into_iter()
            .map(|(series, total)| (series, json!(total)));
        let samples = self.samples.into_iter().map(|(series, reservoir)| {
            let values = reservoir.into_values();
            let value = match values.as_slice() {
                [one] => json!(one),
                _ => json!(values),
            };
            (series, value)
        });
        for (series, value) in counters.chain(samples) {
            let metric = (series.metric, series.unit, value);
            match documents.iter_mut().find(|(d, _)| *d == series.dimensions) {
                Some((_, metrics)) => metrics.push(metric),
                None => documents.push((series.dimensions, vec![metric])),
            }
        }
        documents
            .into_iter()
            .map(|(dimensions, metrics)| document(function, at, &dimensions, metrics))
            .collect()
    }
}

/// A metric's name, unit and value in one document.
type MetricValue = (&'static str, Unit, Value);

/// One EMF document as one line of JSON.
fn document(
    function: &'static str,
    at: i64,
    dimensions: &Dimensions,
    metrics: Vec<MetricValue>,
) -> String {
    let mut names = vec![FUNCTION];
    names.extend(dimensions.as_slice().iter().map(|(name, _)| *name));
    let sets: Vec<&[&str]> = (1..=names.len()).map(|len| &names[..len]).collect();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
                "Metrics": definitions,
            }],
        }),
    );
    root.insert(FUNCTION.into(), json!(function));
    for (name, value) in dimensions.as_slice() {
        root.insert((*name).into(), json!(value));
    }
    for (name, _, value) in metrics {
        root.insert(name.into(), value);
    }
    Value::Object(root).to_string()
}

/// Where flushed lines go.
#[derive(Debug)]
pub enum Sink {
    /// The function's stdout: CloudWatch Logs in Lambda.
    Stdout,
    /// Kept in memory, for tests ([`Recorder::take_written`]).
    Memory(Mutex<Vec<String>>),
    /// Nowhere: benchmarks and tests that do not read them.
    Discard,
}

impl Sink {
    fn write(&self, lines: Vec<String>) {
        match self {
            Sink::Stdout => write_stdout(&lines),
            Sink::Memory(kept) => lock(kept).extend(lines),
            Sink::Discard => {}
        }
    }
}

/// Writes `lines` to stdout under one lock, so no log line lands inside
/// one. A failed write is dropped: a metric never fails a request.
pub fn write_stdout(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = out.write_all(line.as_bytes());
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// Writes what `record` records as EMF lines on stdout, now: for functions
/// that write one line per invocation.
pub fn emit(function: &'static str, at: i64, record: impl FnOnce(&mut Aggregate)) {
    let mut aggregate = Aggregate::new();
    record(&mut aggregate);
    write_stdout(&aggregate.lines(function, at));
}

/// A process's metrics between flushes: records go to memory, and a flush
/// writes them out when the oldest is `interval_ms` old. Lambda gives no
/// hook before it freezes or ends a process, so callers flush at the start
/// of an invocation ([`Recorder::flush_if_due`]); what a process records in
/// its last interval before it is shut down is lost.
#[derive(Debug)]
pub struct Recorder {
    function: &'static str,
    interval_ms: i64,
    sink: Sink,
    aggregate: Mutex<Aggregate>,
}

impl Recorder {
    /// `interval_ms` 0 flushes at every [`Recorder::flush_if_due`] that has
    /// something to write.
    pub fn new(function: &'static str, interval_ms: i64, sink: Sink) -> Self {
        Self {
            function,
            interval_ms: interval_ms.max(0),
            sink,
            aggregate: Mutex::new(Aggregate::new()),
        }
    }

    pub fn function(&self) -> &'static str {
        self.function
    }

    /// Records under one lock, at `at` (wall-clock milliseconds), then
    /// flushes if that makes the oldest record `interval_ms` old.
    pub fn record(&self, at: i64, record: impl FnOnce(&mut Aggregate)) {
        let due = {
            let mut aggregate = lock(&self.aggregate);
            record(&mut aggregate);
            aggregate.touch(at);
            self.take_if_due(&mut aggregate, at)
        };
        if let Some(aggregate) = due {
            self.write(aggregate);
        }
    }

    /// Flushes when the oldest record is `interval_ms` old at `now`; true if it wrote.
    pub fn flush_if_due(&self, now: i64) -> bool {
        let due = self.take_if_due(&mut lock(&self.aggregate), now);
        match due {
            Some(aggregate) => {
                self.write(aggregate);
                true
            }
            None => false,
        }
    }

    fn take_if_due(&self, aggregate: &mut Aggregate, now: i64) -> Option<Aggregate> {
        let first = aggregate.first_at?;
        (now.saturating_sub(first) >= self.interval_ms).then(|| std::mem::take(aggregate))
    }

    /// Flushes whatever is recorded.
    pub fn flush(&self) {
        let aggregate = std::mem::take(&mut *lock(&self.aggregate));
        self.write(aggregate);
    }

    fn write(&self, aggregate: Aggregate) {
        if aggregate.is_empty() {
            return;
        }
        let at = aggregate.last_at;
        self.sink.write(aggregate.lines(self.function, at));
    }

    /// The lines a [`Sink::Memory`] holds, taken out; none for other sinks.
    pub fn take_written(&self) -> Vec<String> {
        match &self.sink {
            Sink::Memory(kept) => std::mem::take(&mut *lock(kept)),
            _ => Vec::new(),
        }
    }
}

/// A poisoned lock still holds usable numbers: metrics carry on.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Count: HTTP requests a function answered, dimensions [`ROUTE`] and [`STATUS`].
pub const REQUESTS: &str = "Requests";
/// The route key from the function's route table, `METHOD /template`.
pub const ROUTE: &str = "Route";
/// The answer's status code, as text.
pub const STATUS: &str = "Status";
/// The [`ROUTE`] of a request that matches no route the function serves.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Counts one HTTP request: `route` from the function's route table (or
/// [`UNMATCHED_ROUTE`]), `status` its answer's.
pub fn count_request(aggregate: &mut Aggregate, route: &'static str, status: u16) {
    aggregate.count(
        REQUESTS,
        &[(ROUTE, route), (STATUS, status_dimension(status))],
        1,
    );
}

/// An HTTP status code as a dimension value (`"201"`); `"other"` outside
/// 100–599.
pub fn status_dimension(code: u16) -> &'static str {
    static DIGITS: OnceLock<String> = OnceLock::new();
    if !(100..600).contains(&code) {
        return "other";
    }
    let digits = DIGITS.get_or_init(|| (100..600u16).map(|c| c.to_string()).collect());
    let start = usize::from(code - 100) * 3;
    digits.get(start..start + 3).unwrap_or("other")
}

#[cfg(test)]
mod tests;
