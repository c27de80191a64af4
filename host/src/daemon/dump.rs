//! `dump`: the table, streamed to an admin client in chunks.
//!
//! Every served port's table, one after the other, each entry naming its port (umad index).
//! The tables are copied when the request arrives (about 100 bytes per entry: 6.5 MiB for a
//! full 65536-entry table), so the client sees one consistent moment however slowly it reads;
//! lines are made from the copy only while the client's output buffer is nearly empty, so a
//! large dump never counts against the slow-reader limit. At most [`MAX_DUMPS`] dumps run at
//! once, which bounds the memory.

use localsa_core::table::{EntryKind, Table};
use localsa_core::time::Instant;
use localsa_core::wire::path_record::Record;
use serde_json::{json, Value};

use super::pinned::natural_names;
use super::protocol::{ContextJson, PathJson};

/// Dumps streamed at once.
pub const MAX_DUMPS: usize = 4;
/// Entries per line unless the client asks otherwise.
pub const DEFAULT_CHUNK: usize = 256;
/// The most entries per line a client may ask for.
pub const MAX_CHUNK: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Item {
    port: u32,
    record: Record,
    kind: EntryKind,
    pinned: bool,
    expires: Option<Instant>,
    generation: u32,
    stale: bool,
}

/// A dump in progress.
#[derive(Debug)]
pub struct DumpStream {
    id: Value,
    items: Vec<Item>,
    pos: usize,
    chunk: usize,
    chunks: usize,
    taken_at: Instant,
    done: bool,
}

impl DumpStream {
    /// Copies the `tables` (each with its port's umad index) at `now`.
    pub fn snapshot<const N: usize>(
        tables: &[(u32, &Table<N>)],
        id: Value,
        chunk: Option<usize>,
        now: Instant,
    ) -> DumpStream {
        let items = tables
            .iter()
            .flat_map(|&(port, table)| table.iter().map(move |e| (port, e)))
            .map(|(port, e)| Item {
                port,
                record: *e.record,
                kind: e.kind,
                pinned: e.pinned,
                expires: e.expires,
                generation: e.generation,
                stale: e.stale,
            })
            .collect();
        DumpStream {
            id,
            items,
            pos: 0,
            chunk: chunk.unwrap_or(DEFAULT_CHUNK).clamp(1, MAX_CHUNK),
            chunks: 0,
            taken_at: now,
            done: false,
        }
    }

    /// The next line to send (with its newline), or `None` when the dump is over.
    pub fn next_line(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let end = (self.pos + self.chunk).min(self.items.len());
        let line = if self.pos < end {
            let entries: Vec<Value> =
                self.items[self.pos..end].iter().map(|i| item_json(i, self.taken_at)).collect();
            let v = json!({"id": self.id, "chunk": self.chunks, "entries": entries});
            self.pos = end;
            self.chunks += 1;
            v
        } else {
            self.done = true;
            json!({"id": self.id, "ok": true, "total": self.items.len(), "chunks": self.chunks})
        };
        let mut s = line.to_string();
        s.push('\n');
        Some(s)
    }

    /// The request id.
    pub fn id(&self) -> &Value {
        &self.id
    }
}

fn item_json(i: &Item, now: Instant) -> Value {
    let expires_in_ms = i.expires.map(|t| t.saturating_since(now).as_millis());
    match i.kind {
        EntryKind::Path(origin) => json!({
            "port": i.port,
            "kind": "path",
            "pinned": i.pinned,
            "stale": i.stale,
            "expires_in_ms": expires_in_ms,
            "generation": i.generation,
            "natural": natural_names(origin.natural),
            "context": ContextJson::from(origin.context),
            "path": PathJson::from(&i.record),
        }),
        EntryKind::Negative { mask, error } => json!({
            "port": i.port,
            "kind": "negative",
            "stale": i.stale,
            "expires_in_ms": expires_in_ms,
            "generation": i.generation,
            "error": error.to_string(),
            "mask": format!("0x{:016x}", mask.bits()),
            "query": PathJson::from(&i.record),
        }),
    }
}
