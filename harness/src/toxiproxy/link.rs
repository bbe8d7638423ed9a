//! A link: one direction of one proxied connection, reading from its source socket, passing the
//! bytes through the chain of toxics for that direction, and handing them to the writer of the
//! destination socket (toxiproxy `link.go`).
//!
//! toxiproxy runs each toxic as a goroutine joined by channels and rewires them when a toxic is
//! added or removed. Here one task owns the whole chain as a list of [`Stage`]s, moves items
//! along it, and sleeps until the earliest deadline a stage asked for; toxics added, changed or
//! removed while the connection is live are applied to its chain between two steps, so a change
//! reaches live connections as in toxiproxy, with nothing dropped or reordered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncReadExt as _;
use tokio::sync::{mpsc, watch};

use super::proxy::{ConnShared, ReadSide};
use super::toxics::{Chunk, Item, Kind, Stage, Step, Toxic};

/// The toxics of one direction of a proxy, in chain order, as the links receive them.
pub type ToxicList = Arc<Vec<Arc<Toxic>>>;

/// How many items may wait for the writer; toxiproxy's last channel is unbuffered.
const OUT_CAPACITY: usize = 1;
/// toxiproxy reads with `io.Copy`, 32 KiB at a time.
const READ_SIZE: usize = 32 * 1024;

/// The stages of one link and what waits for the writer.
pub struct Chain {
    stages: Vec<Stage>,
    out: VecDeque<Item>,
    out_closed: bool,
}

impl Chain {
    pub fn new(toxics: &[Arc<Toxic>], now: Instant) -> Chain {
        Chain {
            stages: toxics.iter().map(|t| Stage::new(t.clone(), now)).collect(),
            out: VecDeque::new(),
            out_closed: false,
        }
    }

    pub fn has_reset_peer(&self) -> bool {
        self.stages.iter().any(|s| matches!(s.toxic.kind, Kind::ResetPeer { .. }))
    }

    /// Whether the link should read more from its source.
    pub fn takes_input(&self) -> bool {
        match self.stages.first() {
            Some(s) => s.has_room(),
            None => self.out_has_room(),
        }
    }

    fn out_has_room(&self) -> bool {
        self.out_closed || self.out.len() < OUT_CAPACITY
    }

    pub fn push_input(&mut self, item: Item) {
        self.push_at(0, item);
    }

    /// Give `item` to stage `i`, or to the writer queue past the last stage.
    fn push_at(&mut self, i: usize, item: Item) {
        match self.stages.get_mut(i) {
            Some(s) => s.push(item),
            None if self.out_closed => {}
            None => {
                self.out_closed = item == Item::Eof;
                self.out.push_back(item);
            }
        }
    }

    /// Move items along as far as they can go at `now`; returns the earliest instant a stage
    /// waits for.
    pub fn advance(&mut self, now: Instant) -> Option<Instant> {
        loop {
            let mut moved = false;
            let mut deadline: Option<Instant> = None;
            for i in 0..self.stages.len() {
                loop {
                    let room = match self.stages.get(i + 1) {
                        Some(next) => next.has_room(),
                        None => self.out_has_room(),
                    };
                    let Some(stage) = self.stages.get_mut(i) else { break };
                    match stage.poll(now, room) {
                        Step::Emit(item) => {
                            self.push_at(i + 1, item);
                            moved = true;
                        }
                        Step::Wait(at) => {
                            if let Some(at) = at {
                                deadline = Some(deadline.map_or(at, |d| d.min(at)));
                            }
                            break;
                        }
                    }
                }
            }
            if !moved {
                return deadline;
            }
        }
    }

    /// The next item for the writer, if any.
    pub fn pop_output(&mut self) -> Option<Item> {
        self.out.pop_front()
    }

    pub fn unpop_output(&mut self, item: Item) {
        self.out.push_front(item);
    }

    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Apply a new list of toxics to this live chain: stages of removed toxics hand on what they
    /// hold, changed toxics restart in place, new toxics join at the end (toxiproxy
    /// `toxic_collection.go` `chainAddToxic`/`chainUpdateToxic`/`chainRemoveToxic`).
    pub fn update(&mut self, toxics: &[Arc<Toxic>], now: Instant) {
        let mut i = 0;
        while i < self.stages.len() {
            let id = self.stages[i].toxic.id;
            match toxics.iter().find(|t| t.id == id) {
                None => {
                    let stage = self.stages.remove(i);
                    for item in stage.remove() {
                        self.push_at(i, item);
                    }
                }
                Some(t) => {
                    if !Arc::ptr_eq(t, &self.stages[i].toxic) {
                        let handed_on = self.stages[i].update(t.clone(), now);
                        for item in handed_on {
                            self.push_at(i + 1, item);
                        }
                    }
                    i += 1;
                }
            }
        }
        for t in toxics {
            if !self.stages.iter().any(|s| s.toxic.id == t.id) {
                self.stages.push(Stage::new(t.clone(), now));
            }
        }
    }
}

/// Everything one link needs; the writer of its destination runs apart ([`super::proxy`]).
pub struct Link {
    pub source: ReadSide,
    /// Set when the other direction's writer closed the source socket.
    pub source_closed: watch::Receiver<bool>,
    pub out: mpsc::Sender<Item>,
    pub toxics: watch::Receiver<ToxicList>,
    pub kill: watch::Receiver<bool>,
    pub conn: Arc<ConnShared>,
}

/// Runs the link until its stream ended and the writer got the end, the writer went away, or
/// the connection was killed.
pub async fn run(link: Link) {
    let Link { source, mut source_closed, out, mut toxics, mut kill, conn } = link;
    let mut source = Some(source);
    let mut chain = Chain::new(&[], Instant::now());
    apply_toxics(&mut chain, &mut toxics, &conn);
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        // Apply a toxic change before anything else, so data read after the API answered goes
        // through the new chain, as toxiproxy applies changes before answering.
        if toxics.has_changed().unwrap_or(false) {
            apply_toxics(&mut chain, &mut toxics, &conn);
        }
        // Move items along and hand them to the writer until neither makes progress: an item
        // handed over makes room at the end of the chain, and a stage that waited for that room
        // (a bandwidth or latency toxic whose time is already up) must move now, not when the
        // next byte arrives. The deadline is taken from the last round.
        let deadline = loop {
            let deadline = chain.advance(Instant::now());
            let mut handed = false;
            while let Some(item) = chain.pop_output() {
                let eof = item == Item::Eof;
                match out.try_send(item) {
                    Ok(()) if eof => return,
                    Ok(()) => handed = true,
                    Err(mpsc::error::TrySendError::Full(item)) => {
                        chain.unpop_output(item);
                        break;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            if !handed {
                break deadline;
            }
        };
        let reading = source.is_some() && chain.takes_input();
        tokio::select! {
            biased;
            _ = kill.wait_for(|k| *k) => return,
            changed = toxics.changed() => {
                if changed.is_err() {
                    // The proxy is gone; its kill switch follows.
                    return;
                }
                apply_toxics(&mut chain, &mut toxics, &conn);
            }
            permit = out.reserve(), if chain.has_output() => match (permit, chain.pop_output()) {
                (Ok(permit), Some(item)) => {
                    let eof = item == Item::Eof;
                    permit.send(item);
                    if eof {
                        return;
                    }
                }
                (Ok(_), None) => {}
                (Err(_), _) => return,
            },
            _ = sleep_until(deadline), if deadline.is_some() => {}
            _ = source_closed.wait_for(|c| *c), if source.is_some() => {
                source = None;
                chain.push_input(Item::Eof);
            }
            read = read_some(&mut source, &mut buf), if reading => match read {
                Ok(n) if n > 0 => {
                    // Data that arrived after a change answered by the API meets the new chain.
                    if toxics.has_changed().unwrap_or(false) {
                        apply_toxics(&mut chain, &mut toxics, &conn);
                    }
                    let data = buf.get(..n).unwrap_or_default().to_vec();
                    chain.push_input(Item::Data(Chunk { data, at: Instant::now() }));
                }
                // End of stream or an error: toxiproxy's `read` closes the link's input either way.
                _ => {
                    source = None;
                    chain.push_input(Item::Eof);
                }
            },
        }
    }
}

/// Brings the chain up to the proxy's current toxics. A reset_peer among them makes this
/// connection's sockets close with RST.
fn apply_toxics(chain: &mut Chain, toxics: &mut watch::Receiver<ToxicList>, conn: &ConnShared) {
    chain.update(&toxics.borrow_and_update(), Instant::now());
    if chain.has_reset_peer() {
        conn.set_reset();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn read_some(source: &mut Option<ReadSide>, buf: &mut [u8]) -> std::io::Result<usize> {
    match source {
        Some(s) => s.half.read(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::toxiproxy::toxics::{Direction, Kind};

    fn toxic(name: &str, kind: Kind) -> Arc<Toxic> {
        Arc::new(Toxic::new(name.into(), "downstream".into(), Direction::Downstream, 1.0, kind))
    }

    fn data(b: &[u8], at: Instant) -> Item {
        Item::Data(Chunk { data: b.to_vec(), at })
    }

    fn take_all(chain: &mut Chain) -> Vec<u8> {
        let mut got = Vec::new();
        while let Some(item) = chain.pop_output() {
            if let Item::Data(c) = item {
                got.extend(c.data);
            }
        }
        got
    }

    #[test]
    fn chain_applies_toxics_in_order() {
        let t0 = Instant::now();
        let toxics =
            vec![toxic("a", Kind::Latency { latency: 100, jitter: 0 }), toxic("b", Kind::LimitData { bytes: 3 })];
        let mut chain = Chain::new(&toxics, t0);
        chain.push_input(data(b"hello", t0));
        assert_eq!(chain.advance(t0), Some(t0 + Duration::from_millis(100)));
        assert!(!chain.has_output());
        chain.advance(t0 + Duration::from_millis(100));
        assert_eq!(chain.pop_output(), Some(data(b"hel", t0 + Duration::from_millis(100))));
        chain.advance(t0 + Duration::from_millis(100));
        assert_eq!(chain.pop_output(), Some(Item::Eof));
    }

    #[test]
    fn removing_a_toxic_from_a_live_chain_hands_on_its_data() {
        let t0 = Instant::now();
        let slow = toxic("slow", Kind::Latency { latency: 10_000, jitter: 0 });
        let mut chain = Chain::new(std::slice::from_ref(&slow), t0);
        chain.push_input(data(b"ab", t0));
        chain.advance(t0);
        chain.push_input(data(b"cd", t0));
        chain.advance(t0);
        assert!(!chain.has_output());
        chain.update(&[], t0);
        // The writer queue holds one item at a time; take as it drains.
        let mut got = Vec::new();
        for _ in 0..4 {
            chain.advance(t0);
            got.extend(take_all(&mut chain));
        }
        assert_eq!(got, b"abcd");
    }

    #[test]
    fn adding_a_toxic_to_a_live_chain_applies_to_later_data() {
        let t0 = Instant::now();
        let mut chain = Chain::new(&[], t0);
        chain.push_input(data(b"ab", t0));
        chain.advance(t0);
        assert_eq!(take_all(&mut chain), b"ab");
        chain.update(&[toxic("t", Kind::Timeout { timeout: 0 })], t0);
        chain.push_input(data(b"cd", t0));
        assert_eq!(chain.advance(t0), None);
        assert!(!chain.has_output());
        // Removing the timeout closes the stream, as toxiproxy's Cleanup does.
        chain.update(&[], t0);
        chain.advance(t0);
        assert_eq!(chain.pop_output(), Some(Item::Eof));
    }
}
