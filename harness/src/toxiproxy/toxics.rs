//! The toxics: their JSON attributes, and what each does to the bytes of one direction of one
//! connection.
//!
//! Each toxic is a small state machine ([`Stage`]) fed with the chunks the proxy read, asked
//! "what now?" with the current time, and answering "emit this" or "wait until then". No clock,
//! task or socket here, so every toxic is tested with made-up instants; `link` drives
//! them in real time. The behaviour follows toxiproxy's `toxics/*.go` (Shopify/toxiproxy
//! v2.12.0), each struct citing the file it follows. Where toxiproxy would panic or spin
//! (negative sizes, a zero slicer size) the input is clamped to the nearest sane value instead.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// Which way the bytes flow: `upstream` is client to server, `downstream` server to client
/// (toxiproxy `stream/direction.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Upstream,
    Downstream,
}

impl Direction {
    /// toxiproxy's `ParseDirection` lowercases first, so `"Downstream"` is accepted too.
    pub fn parse(s: &str) -> Option<Direction> {
        match s.to_ascii_lowercase().as_str() {
            "upstream" => Some(Direction::Upstream),
            "downstream" => Some(Direction::Downstream),
            _ => None,
        }
    }

    /// Index into per-direction arrays; upstream first, as toxiproxy lists toxics.
    pub fn index(self) -> usize {
        match self {
            Direction::Upstream => 0,
            Direction::Downstream => 1,
        }
    }
}

/// A toxic type with its attributes. All attributes are integers in toxiproxy (`int64`/`int`),
/// and a missing one is zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Passes everything through; registered in toxiproxy as `noop`.
    Noop,
    /// `latency`, `jitter`: milliseconds.
    Latency { latency: i64, jitter: i64 },
    /// `rate`: KB/s, where toxiproxy's KB is 1000 bytes.
    Bandwidth { rate: i64 },
    /// `delay`: milliseconds between the source closing and the destination closing.
    SlowClose { delay: i64 },
    /// `timeout`: milliseconds; 0 means never close.
    Timeout { timeout: i64 },
    /// `timeout`: milliseconds after the first data before resetting.
    ResetPeer { timeout: i64 },
    /// `average_size`, `size_variation`: bytes; `delay`: microseconds between slices.
    Slicer { average_size: i64, size_variation: i64, delay: i64 },
    /// `bytes`: how many bytes pass before the connection closes.
    LimitData { bytes: i64 },
}

impl Kind {
    /// The toxic of this type with every attribute zero, or None for an unknown type.
    pub fn new(type_name: &str) -> Option<Kind> {
        Some(match type_name {
            "noop" => Kind::Noop,
            "latency" => Kind::Latency { latency: 0, jitter: 0 },
            "bandwidth" => Kind::Bandwidth { rate: 0 },
            "slow_close" => Kind::SlowClose { delay: 0 },
            "timeout" => Kind::Timeout { timeout: 0 },
            "reset_peer" => Kind::ResetPeer { timeout: 0 },
            "slicer" => Kind::Slicer { average_size: 0, size_variation: 0, delay: 0 },
            "limit_data" => Kind::LimitData { bytes: 0 },
            _ => return None,
        })
    }

    pub const TYPES: &'static [&'static str] =
        &["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "noop"];

    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Noop => "noop",
            Kind::Latency { .. } => "latency",
            Kind::Bandwidth { .. } => "bandwidth",
            Kind::SlowClose { .. } => "slow_close",
            Kind::Timeout { .. } => "timeout",
            Kind::ResetPeer { .. } => "reset_peer",
            Kind::Slicer { .. } => "slicer",
            Kind::LimitData { .. } => "limit_data",
        }
    }

    fn fields_mut(&mut self) -> Vec<(&'static str, &mut i64)> {
        match self {
            Kind::Noop => vec![],
            Kind::Latency { latency, jitter } => vec![("latency", latency), ("jitter", jitter)],
            Kind::Bandwidth { rate } => vec![("rate", rate)],
            Kind::SlowClose { delay } => vec![("delay", delay)],
            Kind::Timeout { timeout } | Kind::ResetPeer { timeout } => vec![("timeout", timeout)],
            Kind::Slicer { average_size, size_variation, delay } => {
                vec![("average_size", average_size), ("size_variation", size_variation), ("delay", delay)]
            }
            Kind::LimitData { bytes } => vec![("bytes", bytes)],
        }
    }

    /// Sets the attributes present in `attrs`, leaving the others as they are: toxiproxy decodes
    /// the JSON into the existing struct, so unknown keys are ignored, `null` changes nothing,
    /// and a value that is not an integer is a bad request.
    pub fn set_attributes(&mut self, attrs: &Map<String, Value>) -> Result<(), String> {
        let type_name = self.type_name();
        for (key, slot) in self.fields_mut() {
            match attrs.get(key) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    *slot = v.as_i64().ok_or_else(|| {
                        format!("attribute {key:?} of a {type_name} toxic must be an integer, not {v}")
                    })?
                }
            }
        }
        Ok(())
    }

    /// The attributes as toxiproxy shows them: every field, zero when never set.
    pub fn attributes(&self) -> Value {
        let mut copy = self.clone();
        Value::Object(copy.fields_mut().into_iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect())
    }
}

/// One toxic on a proxy, as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Toxic {
    /// Identity across updates: a link keeps a toxic's stage (and its state) while the id stays,
    /// even if the toxic was removed and another added under the same name in between.
    pub id: u64,
    pub name: String,
    /// The stream as the client spelled it; toxiproxy echoes it back unchanged.
    pub stream: String,
    pub direction: Direction,
    /// Probability that a connection gets this toxic; toxiproxy does not check the range.
    pub toxicity: f32,
    pub kind: Kind,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Toxic {
    pub fn new(name: String, stream: String, direction: Direction, toxicity: f32, kind: Kind) -> Toxic {
        Toxic { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), name, stream, direction, toxicity, kind }
    }

    /// toxiproxy's `ToxicWrapper` JSON.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "attributes": self.kind.attributes(),
            "name": self.name,
            "type": self.kind.type_name(),
            "stream": self.stream,
            // Shown as Go shows a float32: 0.1, not 0.10000000149011612.
            "toxicity": self.toxicity.to_string().parse::<f64>().unwrap_or(f64::from(self.toxicity)),
        })
    }
}

/// Bytes read from the source, stamped with when they were read (toxiproxy's `StreamChunk`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub at: Instant,
}

/// What flows between stages: data, or the end of the stream (toxiproxy's closed channel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Data(Chunk),
    Eof,
}

/// A stage's answer when polled.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Pass this item on to the next stage.
    Emit(Item),
    /// Nothing to emit before this instant (None: not until more input or more room).
    Wait(Option<Instant>),
}

/// One toxic on one link: its input queue and its running state.
pub struct Stage {
    pub toxic: std::sync::Arc<Toxic>,
    pipe: Pipe,
    input: VecDeque<Item>,
    /// An Eof entered the input: later items are dropped (nothing follows a close).
    input_closed: bool,
    /// This stage emitted its Eof and is finished.
    done: bool,
    /// limit_data's count, kept across updates like toxiproxy's `StatefulToxic` state.
    sent: i64,
}

/// Nanoseconds, signed: toxiproxy's bandwidth and latency arithmetic goes negative.
type Nanos = i128;

fn shift(t: Instant, by: Nanos) -> Instant {
    let d = Duration::from_nanos(u64::try_from(by.unsigned_abs()).unwrap_or(u64::MAX));
    if by >= 0 { t.checked_add(d).unwrap_or(t) } else { t.checked_sub(d).unwrap_or(t) }
}

fn millis(ms: i64) -> Nanos {
    Nanos::from(ms) * 1_000_000
}

fn since(now: Instant, then: Instant) -> Nanos {
    if now >= then {
        now.duration_since(then).as_nanos() as Nanos
    } else {
        -(then.duration_since(now).as_nanos() as Nanos)
    }
}

impl Stage {
    /// The stage for `toxic` on a new link or on a live link it was just added to. Whether the
    /// toxic acts is drawn now, once for this connection (toxiproxy draws in `ToxicStub.Run`,
    /// each time the stub starts).
    pub fn new(toxic: std::sync::Arc<Toxic>, now: Instant) -> Stage {
        let pipe = Pipe::start(&toxic, now);
        Stage { toxic, pipe, input: VecDeque::new(), input_closed: false, done: false, sent: 0 }
    }

    /// Whether the stage takes another data item now. toxiproxy's channels are unbuffered
    /// except in front of latency (`GetBufferSize` 1024); the stage itself holds one item more.
    pub fn has_room(&self) -> bool {
        let capacity = if matches!(self.toxic.kind, Kind::Latency { .. }) { 1024 } else { 1 };
        self.input_closed || self.input.len() < capacity
    }

    /// Queue an item. Anything after an Eof is dropped, like writes after a close.
    pub fn push(&mut self, item: Item) {
        if self.input_closed {
            return;
        }
        if item == Item::Eof {
            self.input_closed = true;
        }
        self.input.push_back(item);
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// What the stage does now. `room`: whether the next stage takes data; an Eof is always
    /// taken (closing a channel never blocks in toxiproxy).
    pub fn poll(&mut self, now: Instant, room: bool) -> Step {
        if self.done {
            return Step::Wait(None);
        }
        let step = self.pipe.poll(&mut self.input, now, room, &mut self.sent);
        if step == Step::Emit(Item::Eof) {
            // Closed: what is queued and whatever comes later is dropped, never blocking the
            // stages before it.
            self.done = true;
            self.input_closed = true;
            self.input.clear();
        }
        step
    }

    /// The toxic changed (new attributes or toxicity): toxiproxy interrupts the stub, which
    /// hands on what it holds so no data is dropped, and runs the toxic again (a new draw of
    /// toxicity, timers start over). Returns the items handed on to the next stage.
    pub fn update(&mut self, toxic: std::sync::Arc<Toxic>, now: Instant) -> Vec<Item> {
        let handed_on = self.pipe.interrupt();
        if handed_on.contains(&Item::Eof) {
            self.done = true;
        }
        self.pipe = Pipe::start(&toxic, now);
        self.toxic = toxic;
        handed_on
    }

    /// The toxic was removed: what the next stage gets. toxiproxy's `RemoveToxic` interrupts the
    /// stub and forwards its buffer; a toxic with `Cleanup` (timeout) closes the stream instead.
    pub fn remove(mut self) -> Vec<Item> {
        if self.done {
            return Vec::new();
        }
        if matches!(self.toxic.kind, Kind::Timeout { .. }) {
            // toxics/timeout.go `Cleanup`: stub.Close(), whether or not toxicity let it act.
            return vec![Item::Eof];
        }
        let mut out = self.pipe.interrupt();
        out.extend(self.input.drain(..));
        out
    }
}

/// The running state of a toxic on one link. A toxic that lost the toxicity draw runs as
/// `Noop`, like toxiproxy's `ToxicStub.Run`.
enum Pipe {
    Noop,
    Latency(Latency),
    Bandwidth(Bandwidth),
    SlowClose(SlowClose),
    Timeout(Timeout),
    ResetPeer(ResetPeer),
    Slicer(Slicer),
    LimitData(LimitData),
}

impl Pipe {
    fn start(toxic: &Toxic, now: Instant) -> Pipe {
        // toxics/toxic.go `Run`: `rand.Float32() < toxicity`, so 0 never acts and 1 always does.
        if fastrand::f32() >= toxic.toxicity {
            return Pipe::Noop;
        }
        match toxic.kind {
            Kind::Noop => Pipe::Noop,
            Kind::Latency { latency, jitter } => Pipe::Latency(Latency { latency, jitter, current: None }),
            Kind::Bandwidth { rate } => Pipe::Bandwidth(Bandwidth { rate, sleep: 0, current: None }),
            Kind::SlowClose { delay } => Pipe::SlowClose(SlowClose { delay, closing_at: None }),
            Kind::Timeout { timeout } => {
                Pipe::Timeout(Timeout { deadline: (timeout > 0).then(|| shift(now, millis(timeout))) })
            }
            Kind::ResetPeer { timeout } => Pipe::ResetPeer(ResetPeer { timeout, fire_at: None }),
            Kind::Slicer { average_size, size_variation, delay } => {
                Pipe::Slicer(Slicer { average_size, size_variation, delay, current: None })
            }
            Kind::LimitData { bytes } => Pipe::LimitData(LimitData { bytes, closing: false }),
        }
    }

    fn poll(&mut self, input: &mut VecDeque<Item>, now: Instant, room: bool, sent: &mut i64) -> Step {
        match self {
            Pipe::Noop => noop(input, room),
            Pipe::Latency(t) => t.poll(input, now, room),
            Pipe::Bandwidth(t) => t.poll(input, now, room),
            Pipe::SlowClose(t) => t.poll(input, now, room),
            Pipe::Timeout(t) => t.poll(input, now),
            Pipe::ResetPeer(t) => t.poll(input, now),
            Pipe::Slicer(t) => t.poll(input, now, room),
            Pipe::LimitData(t) => t.poll(input, room, sent),
        }
    }

    /// Interrupt: the items the toxic holds, handed on to the output so none is dropped.
    fn interrupt(&mut self) -> Vec<Item> {
        let held = match self {
            // slow_close leaves the Eof it delays in its input: a re-run delays it afresh.
            Pipe::Noop | Pipe::Timeout(_) | Pipe::SlowClose(_) => None,
            Pipe::Latency(t) => t.current.take().map(|(c, _)| Item::Data(c)),
            Pipe::Bandwidth(t) => t.current.take().map(|(c, _)| Item::Data(c)),
            Pipe::Slicer(t) => t.current.take().and_then(Slicing::rest).map(Item::Data),
            // A triggered reset cannot be interrupted in toxiproxy (it sleeps without select):
            // the reset happens, here at once.
            Pipe::ResetPeer(t) => t.fire_at.take().map(|_| Item::Eof),
            Pipe::LimitData(t) => t.closing.then_some(Item::Eof),
        };
        held.into_iter().collect()
    }
}

/// toxics/noop.go: everything passes.
fn noop(input: &mut VecDeque<Item>, room: bool) -> Step {
    match input.front() {
        Some(Item::Eof) => {
            input.pop_front();
            Step::Emit(Item::Eof)
        }
        Some(Item::Data(_)) if room => input.pop_front().map_or(Step::Wait(None), Step::Emit),
        _ => Step::Wait(None),
    }
}

/// toxics/latency.go: each chunk leaves `latency ± jitter` ms after it was read. Chunks stay in
/// order; the delay is drawn when a chunk is taken, and the chunk's timestamp moves by the time
/// it waited here, so a second latency toxic adds its delay on top.
struct Latency {
    latency: i64,
    jitter: i64,
    current: Option<(Chunk, Instant)>,
}

impl Latency {
    fn poll(&mut self, input: &mut VecDeque<Item>, now: Instant, room: bool) -> Step {
        if self.current.is_none() {
            match input.pop_front() {
                None => return Step::Wait(None),
                Some(Item::Eof) => return Step::Emit(Item::Eof),
                Some(Item::Data(mut c)) => {
                    let mut delay = millis(self.latency);
                    if self.jitter > 0 {
                        // rand.Int63n(jitter*2) - jitter
                        delay += millis(fastrand::i64(0..self.jitter.saturating_mul(2)) - self.jitter);
                    }
                    let sleep = delay - since(now, c.at);
                    let ready = shift(now, sleep);
                    c.at = shift(c.at, sleep);
                    self.current = Some((c, ready));
                }
            }
        }
        match &self.current {
            Some((_, ready)) if now < *ready => Step::Wait(Some(*ready)),
            Some(_) if !room => Step::Wait(None),
            _ => self.current.take().map_or(Step::Wait(None), |(c, _)| Step::Emit(Item::Data(c))),
        }
    }
}

/// toxics/bandwidth.go: a chunk of n bytes adds n/rate ms to a sleep budget and leaves once
/// the budget is spent. A chunk larger than 100 ms worth is sent in 100 ms slices. A rate of
/// zero holds data forever (toxiproxy sends empty slices every 100 ms, forever).
struct Bandwidth {
    rate: i64,
    /// toxiproxy's `sleep`: what the data taken so far still owes, in ns; may go negative.
    sleep: Nanos,
    current: Option<(Chunk, BandwidthPhase)>,
}

enum BandwidthPhase {
    /// Next 100 ms slice at this instant.
    Slicing(Instant),
    /// The rest leaves at `until`; `since` is when the wait began.
    Waiting { since: Instant, until: Instant },
    /// rate <= 0: never.
    Held,
}

impl Bandwidth {
    const SLICE: Nanos = 100_000_000;

    fn slice_len(&self) -> usize {
        usize::try_from(self.rate.saturating_mul(100)).unwrap_or(0)
    }

    fn poll(&mut self, input: &mut VecDeque<Item>, now: Instant, room: bool) -> Step {
        if self.current.is_none() {
            match input.pop_front() {
                None => return Step::Wait(None),
                Some(Item::Eof) => return Step::Emit(Item::Eof),
                Some(Item::Data(c)) => {
                    let len = c.data.len();
                    let phase = if self.rate <= 0 {
                        self.sleep = 0;
                        if len > 0 { BandwidthPhase::Held } else { BandwidthPhase::Waiting { since: now, until: now } }
                    } else {
                        self.sleep += len as Nanos * 1_000_000 / Nanos::from(self.rate);
                        if len > self.slice_len() {
                            BandwidthPhase::Slicing(shift(now, Self::SLICE))
                        } else {
                            BandwidthPhase::Waiting { since: now, until: shift(now, self.sleep) }
                        }
                    };
                    self.current = Some((c, phase));
                }
            }
        }
        let slice_len = self.slice_len();
        let Some((chunk, phase)) = &mut self.current else { return Step::Wait(None) };
        match *phase {
            BandwidthPhase::Held => Step::Wait(None),
            BandwidthPhase::Slicing(at) if now < at => Step::Wait(Some(at)),
            BandwidthPhase::Waiting { until, .. } if now < until => Step::Wait(Some(until)),
            _ if !room => Step::Wait(None),
            BandwidthPhase::Slicing(_) => {
                let part = Chunk { data: chunk.data.drain(..slice_len).collect(), at: chunk.at };
                self.sleep -= Self::SLICE;
                *phase = if chunk.data.len() > slice_len {
                    BandwidthPhase::Slicing(shift(now, Self::SLICE))
                } else {
                    BandwidthPhase::Waiting { since: now, until: shift(now, self.sleep) }
                };
                Step::Emit(Item::Data(part))
            }
            BandwidthPhase::Waiting { since: began, .. } => {
                // "time.After only seems to have ~1ms precision, so offset the next sleep by
                // the error": the budget pays for the time actually waited.
                self.sleep -= since(now, began);
                self.current.take().map_or(Step::Wait(None), |(c, _)| Step::Emit(Item::Data(c)))
            }
        }
    }
}

/// toxics/slow_close.go: data passes; the close is delayed by `delay` ms.
struct SlowClose {
    delay: i64,
    closing_at: Option<Instant>,
}

impl SlowClose {
    fn poll(&mut self, input: &mut VecDeque<Item>, now: Instant, room: bool) -> Step {
        match input.front() {
            Some(Item::Eof) => {
                let at = *self.closing_at.get_or_insert_with(|| shift(now, millis(self.delay)));
                if now < at {
                    return Step::Wait(Some(at));
                }
                input.pop_front();
                Step::Emit(Item::Eof)
            }
            Some(Item::Data(_)) if room => input.pop_front().map_or(Step::Wait(None), Step::Emit),
            _ => Step::Wait(None),
        }
    }
}

/// toxics/timeout.go: no data passes (it is dropped); the stream closes `timeout` ms after the
/// toxic started on the link, or never if 0. Removing it closes the stream (its `Cleanup`).
struct Timeout {
    deadline: Option<Instant>,
}

impl Timeout {
    fn poll(&mut self, input: &mut VecDeque<Item>, now: Instant) -> Step {
        while let Some(item) = input.pop_front() {
            if item == Item::Eof {
                return Step::Emit(Item::Eof);
            }
        }
        match self.deadline {
            Some(at) if now >= at => Step::Emit(Item::Eof),
            at => Step::Wait(at),
        }
    }
}

/// toxics/reset_peer.go: the first item to arrive (data or close) is dropped and starts a
/// `timeout` ms countdown; then the stream closes. The link set SO_LINGER 0 on both sockets,
/// so that close is a TCP RST.
struct ResetPeer {
    timeout: i64,
    fire_at: Option<Instant>,
}

impl ResetPeer {
    fn poll(&mut self, input: &mut VecDeque<Item>, now: Instant) -> Step {
        if self.fire_at.is_none() && input.pop_front().is_some() {
            self.fire_at = Some(shift(now, millis(self.timeout)));
        }
        match self.fire_at {
            Some(at) if now >= at => Step::Emit(Item::Eof),
            at => Step::Wait(at),
        }
    }
}

/// toxics/slicer.go: each chunk is cut into slices of about `average_size` ± `size_variation`
/// bytes, sent `delay` µs apart.
struct Slicer {
    average_size: i64,
    size_variation: i64,
    delay: i64,
    current: Option<Slicing>,
}

struct Slicing {
    chunk: Chunk,
    /// (start, end) of each slice, in order.
    bounds: Vec<(usize, usize)>,
    next: usize,
    next_at: Instant,
}

impl Slicing {
    /// What is left unsent, as one chunk (toxiproxy sends `c.Data[chunks[i]:]` on interrupt).
    fn rest(self) -> Option<Chunk> {
        let start = self.bounds.get(self.next).map(|b| b.0)?;
        Some(Chunk { data: self.chunk.data.get(start..).unwrap_or_default().to_vec(), at: self.chunk.at })
    }
}

impl Slicer {
    fn poll(&mut self, input: &mut VecDeque<Item>, now: Instant, room: bool) -> Step {
        loop {
            if self.current.is_none() {
                match input.pop_front() {
                    None => return Step::Wait(None),
                    Some(Item::Eof) => return Step::Emit(Item::Eof),
                    Some(Item::Data(chunk)) => {
                        let bounds = slices(chunk.data.len(), self.average_size, self.size_variation);
                        self.current = Some(Slicing { chunk, bounds, next: 0, next_at: now });
                    }
                }
            }
            let delay = Nanos::from(self.delay.max(0)) * 1000;
            let Some(s) = &mut self.current else { return Step::Wait(None) };
            if now < s.next_at {
                return Step::Wait(Some(s.next_at));
            }
            let Some(&(start, end)) = s.bounds.get(s.next) else {
                // Every slice sent and the last delay over: take the next chunk.
                self.current = None;
                continue;
            };
            if !room {
                return Step::Wait(None);
            }
            s.next += 1;
            s.next_at = shift(now, delay);
            let data = s.chunk.data.get(start..end).unwrap_or_default().to_vec();
            return Step::Emit(Item::Data(Chunk { data, at: s.chunk.at }));
        }
    }
}

/// Slice boundaries for `len` bytes, as toxiproxy's `SlicerToxic.chunk`: halve, moved by up to
/// ± `variation`, until a piece is within `average + variation`. Iterative, and every cut
/// stays inside its piece, so no input makes it recurse forever or slice out of range.
pub fn slices(len: usize, average: i64, variation: i64) -> Vec<(usize, usize)> {
    let average = average.max(0);
    let variation = variation.max(0);
    let mut out = Vec::new();
    let mut todo = vec![(0usize, len)];
    while let Some((start, end)) = todo.pop() {
        let size = (end - start) as i64;
        if size - average <= variation || size <= 1 {
            out.push((start, end));
            continue;
        }
        let mut mid = (start + (end - start) / 2) as i64;
        if variation > 0 {
            mid += fastrand::i64(0..variation.saturating_mul(2)) - variation;
        }
        let mid = mid.clamp(start as i64 + 1, end as i64 - 1) as usize;
        todo.push((mid, end));
        todo.push((start, mid));
    }
    out
}

/// toxics/limit_data.go: `bytes` bytes pass in total (the last chunk cut short), then the
/// stream closes. The count lives on the stage, so an update does not reset it.
struct LimitData {
    bytes: i64,
    closing: bool,
}

impl LimitData {
    fn poll(&mut self, input: &mut VecDeque<Item>, room: bool, sent: &mut i64) -> Step {
        loop {
            if self.closing {
                return Step::Emit(Item::Eof);
            }
            match input.front() {
                Some(Item::Eof) => {
                    input.pop_front();
                    return Step::Emit(Item::Eof);
                }
                Some(Item::Data(_)) if room => {
                    let Some(Item::Data(mut c)) = input.pop_front() else { return Step::Wait(None) };
                    let remaining = usize::try_from((self.bytes - *sent).max(0)).unwrap_or(usize::MAX);
                    c.data.truncate(remaining);
                    *sent += c.data.len() as i64;
                    self.closing = self.bytes - *sent <= 0;
                    if !c.data.is_empty() {
                        return Step::Emit(Item::Data(c));
                    }
                }
                _ => return Step::Wait(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn toxic(kind: Kind) -> Arc<Toxic> {
        Arc::new(Toxic::new("t".into(), "downstream".into(), Direction::Downstream, 1.0, kind))
    }

    fn data(bytes: &[u8], at: Instant) -> Item {
        Item::Data(Chunk { data: bytes.to_vec(), at })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Polls with room until the stage waits; returns what it emitted and the wait.
    fn drain(stage: &mut Stage, now: Instant) -> (Vec<Item>, Option<Instant>) {
        let mut out = Vec::new();
        loop {
            match stage.poll(now, true) {
                Step::Emit(item) => out.push(item),
                Step::Wait(at) => return (out, at),
            }
        }
    }

    fn bytes(items: &[Item]) -> Vec<u8> {
        items.iter().flat_map(|i| if let Item::Data(c) = i { c.data.clone() } else { vec![] }).collect()
    }

    #[test]
    fn attributes_follow_toxiproxy_decoding() {
        let mut k = Kind::new("latency").expect("known type");
        let attrs = serde_json::json!({"latency": 100, "other": "ignored", "jitter": null});
        k.set_attributes(attrs.as_object().expect("object")).expect("integers");
        assert_eq!(k, Kind::Latency { latency: 100, jitter: 0 });
        assert_eq!(k.attributes(), serde_json::json!({"latency": 100, "jitter": 0}));
        let bad = serde_json::json!({"jitter": 1.5});
        assert!(k.set_attributes(bad.as_object().expect("object")).is_err());
        assert_eq!(Kind::new("nope"), None);
        for t in Kind::TYPES {
            assert_eq!(Kind::new(t).map(|k| k.type_name()), Some(*t));
        }
        assert_eq!(Direction::parse("DownStream"), Some(Direction::Downstream));
        assert_eq!(Direction::parse("sideways"), None);
    }

    #[test]
    fn toxicity_zero_never_acts() {
        let t0 = Instant::now();
        let t = Toxic::new("t".into(), "downstream".into(), Direction::Downstream, 0.0, Kind::Timeout { timeout: 0 });
        let mut s = Stage::new(Arc::new(t), t0);
        s.push(data(b"abc", t0));
        assert_eq!(drain(&mut s, t0), (vec![data(b"abc", t0)], None));
    }

    #[test]
    fn latency_delays_each_chunk_and_keeps_order() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::Latency { latency: 100, jitter: 0 }), t0);
        s.push(data(b"a", t0));
        s.push(data(b"b", t0 + ms(10)));
        assert_eq!(drain(&mut s, t0), (vec![], Some(t0 + ms(100))));
        let (out, next) = drain(&mut s, t0 + ms(100));
        assert_eq!(bytes(&out), b"a");
        assert_eq!(next, Some(t0 + ms(110)));
        assert_eq!(bytes(&drain(&mut s, t0 + ms(110)).0), b"b");
    }

    #[test]
    fn latency_with_jitter_stays_in_range() {
        let t0 = Instant::now();
        for _ in 0..50 {
            let mut s = Stage::new(toxic(Kind::Latency { latency: 100, jitter: 20 }), t0);
            s.push(data(b"a", t0));
            let (_, at) = drain(&mut s, t0);
            let at = at.expect("a deadline");
            assert!(at >= t0 + ms(80) && at < t0 + ms(120), "{:?}", at - t0);
        }
    }

    #[test]
    fn removing_latency_hands_on_held_data() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::Latency { latency: 1000, jitter: 0 }), t0);
        s.push(data(b"a", t0));
        s.push(data(b"b", t0));
        drain(&mut s, t0);
        assert_eq!(bytes(&s.remove()), b"ab");
    }

    #[test]
    fn bandwidth_spends_len_over_rate() {
        // 10 KB/s: 500 bytes take 50 ms; 2500 bytes exceed a 100 ms slice (1000 bytes).
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::Bandwidth { rate: 10 }), t0);
        s.push(data(&[1; 500], t0));
        assert_eq!(drain(&mut s, t0), (vec![], Some(t0 + ms(50))));
        assert_eq!(bytes(&drain(&mut s, t0 + ms(50)).0).len(), 500);
        s.push(data(&[2; 2500], t0 + ms(50)));
        let (out, next) = drain(&mut s, t0 + ms(50));
        assert!(out.is_empty());
        assert_eq!(next, Some(t0 + ms(150)));
        let (out, next) = drain(&mut s, t0 + ms(150));
        assert_eq!(bytes(&out).len(), 1000);
        assert_eq!(next, Some(t0 + ms(250)));
        let (out, next) = drain(&mut s, t0 + ms(250));
        assert_eq!(bytes(&out).len(), 1000);
        assert_eq!(next, Some(t0 + ms(300)));
        assert_eq!(bytes(&drain(&mut s, t0 + ms(300)).0).len(), 500);
    }

    #[test]
    fn bandwidth_zero_holds_data() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::Bandwidth { rate: 0 }), t0);
        s.push(data(b"x", t0));
        assert_eq!(drain(&mut s, t0 + ms(10_000)), (vec![], None));
    }

    #[test]
    fn slow_close_delays_only_the_close() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::SlowClose { delay: 200 }), t0);
        s.push(data(b"a", t0));
        s.push(Item::Eof);
        assert_eq!(drain(&mut s, t0), (vec![data(b"a", t0)], Some(t0 + ms(200))));
        assert_eq!(drain(&mut s, t0 + ms(200)).0, vec![Item::Eof]);
        assert!(s.is_done());
    }

    #[test]
    fn updating_slow_close_restarts_the_delay() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::SlowClose { delay: 200 }), t0);
        s.push(Item::Eof);
        assert_eq!(drain(&mut s, t0), (vec![], Some(t0 + ms(200))));
        assert!(s.update(toxic(Kind::SlowClose { delay: 50 }), t0 + ms(100)).is_empty());
        assert_eq!(drain(&mut s, t0 + ms(100)), (vec![], Some(t0 + ms(150))));
        assert_eq!(drain(&mut s, t0 + ms(150)).0, vec![Item::Eof]);
        assert_eq!(drain(&mut s, t0 + ms(150)), (vec![], None));
    }

    #[test]
    fn timeout_drops_data_then_closes() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::Timeout { timeout: 100 }), t0);
        s.push(data(b"a", t0));
        assert_eq!(drain(&mut s, t0), (vec![], Some(t0 + ms(100))));
        assert_eq!(drain(&mut s, t0 + ms(100)).0, vec![Item::Eof]);

        let mut forever = Stage::new(toxic(Kind::Timeout { timeout: 0 }), t0);
        forever.push(data(b"a", t0));
        assert_eq!(drain(&mut forever, t0 + ms(1_000_000)), (vec![], None));
        assert_eq!(forever.remove(), vec![Item::Eof], "removing a timeout closes (its Cleanup)");
    }

    #[test]
    fn reset_peer_counts_from_the_first_data() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::ResetPeer { timeout: 50 }), t0);
        assert_eq!(drain(&mut s, t0 + ms(500)), (vec![], None));
        s.push(data(b"a", t0 + ms(500)));
        assert_eq!(drain(&mut s, t0 + ms(500)), (vec![], Some(t0 + ms(550))));
        assert_eq!(drain(&mut s, t0 + ms(550)).0, vec![Item::Eof]);
    }

    #[test]
    fn slicer_cuts_into_slices_spaced_by_delay() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::Slicer { average_size: 10, size_variation: 0, delay: 1000 }), t0);
        let payload: Vec<u8> = (0..100).collect();
        s.push(data(&payload, t0));
        let mut got = Vec::new();
        let mut now = t0;
        let mut slices = 0;
        loop {
            let (out, next) = drain(&mut s, now);
            slices += out.len();
            got.extend(bytes(&out));
            match next {
                Some(at) => now = at,
                None => break,
            }
        }
        assert_eq!(got, payload);
        assert!(slices >= 8, "{slices} slices");
        assert!(now >= t0 + Duration::from_micros(1000 * slices as u64 - 1000));
    }

    #[test]
    fn slices_cover_the_input_for_any_sizes() {
        for (len, avg, var) in [(0, 0, 0), (1, 0, 0), (100, 0, 0), (1000, 10, 500), (999, -5, -3), (64, 64, 64)] {
            let b = slices(len, avg, var);
            let mut pos = 0;
            for (s, e) in &b {
                assert_eq!(*s, pos);
                assert!(e > s || len == 0);
                pos = *e;
            }
            assert_eq!(pos, len, "len {len} avg {avg} var {var}");
        }
    }

    #[test]
    fn limit_data_cuts_and_closes_and_survives_update() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::LimitData { bytes: 5 }), t0);
        s.push(data(b"abc", t0));
        assert_eq!(bytes(&drain(&mut s, t0).0), b"abc");
        s.update(toxic(Kind::LimitData { bytes: 5 }), t0);
        s.push(data(b"defg", t0));
        assert_eq!(drain(&mut s, t0).0, vec![data(b"de", t0), Item::Eof]);
    }

    #[test]
    fn nothing_follows_an_eof() {
        let t0 = Instant::now();
        let mut s = Stage::new(toxic(Kind::Noop), t0);
        s.push(Item::Eof);
        s.push(data(b"late", t0));
        assert_eq!(drain(&mut s, t0).0, vec![Item::Eof]);
    }
}
