//! Serving the admin protocol (`docs/protocol.md`): one JSON request per line, answered by
//! lines that carry its `id`; every request ends with exactly one line holding `"ok": true`
//! or `"error"`.

use localsa_core::engine::{Answer, ResolveError};
use localsa_core::table::{EntryKind, Natural, Origin, PinPolicy};
use localsa_core::wire::{Gid, SaError};
use serde_json::{json, Map, Value};

use super::client::Waiting;
use super::dump::{DumpStream, MAX_DUMPS};
use super::protocol::{
    parse_gid, parse_request, AddParams, ErrorCode, FlushParams, FlushTarget, PathJson, Request, Selection,
    PROTOCOL_VERSION,
};
use super::route::not_served;
use super::runtime::Runtime;
use super::stats::{acm_counters, engine_json, ports_json, tables_json};
use crate::server::acm::PerfCounters;

impl Runtime<'_> {
    /// Splits an admin client's buffer into lines and serves each.
    pub(super) fn admin_process(&mut self, slot: usize) {
        let max = self.settings.clients.max_outstanding;
        let max_line = self.settings.clients.max_line;
        loop {
            let Some(c) = self.clients.get_mut(slot) else { return };
            if c.doomed.is_some() || c.close_after_flush || c.waiting.len() >= max {
                return;
            }
            let newline = c.inbuf.iter().position(|&b| b == b'\n');
            let too_long = match newline {
                Some(i) => i > max_line,
                None => c.inbuf.len() > max_line,
            };
            if too_long {
                // The rest of the line could be anything: answer, then hang up.
                c.close_when_flushed(std::time::Instant::now());
                self.stats.admin_requests += 1;
                self.stats.clients_dropped_malformed += 1;
                let line = error_line(
                    Value::Null,
                    ErrorCode::LineTooLong,
                    &format!("request lines are at most {max_line} bytes"),
                );
                self.queue(slot, line.as_bytes());
                return;
            }
            let Some(i) = newline else { return };
            let line: Vec<u8> = c.inbuf[..i].to_vec();
            c.consume(i + 1);
            self.admin_line(slot, &line);
        }
    }

    fn admin_line(&mut self, slot: usize, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.stats.admin_requests += 1;
        let (id, request) = match parse_request(line) {
            Ok(r) => r,
            Err((id, msg)) => return self.reply_error(slot, id, ErrorCode::BadRequest, &msg),
        };
        if request.needs_privilege() && !self.privileged(slot) {
            self.stats.permission_denied += 1;
            let (uid, pid) = self
                .clients
                .get(slot)
                .and_then(|c| c.cred)
                .map(|c| (c.uid().to_string(), c.pid().to_string()))
                .unwrap_or_default();
            log::warn!("permission denied op={} uid={uid} pid={pid}", request.op());
            let who = match &self.settings.admin_group {
                Some(g) => format!("root or a member of group {g:?}"),
                None => "root".into(),
            };
            let msg = format!("`{}` needs {who}", request.op());
            return self.reply_error(slot, id, ErrorCode::PermissionDenied, &msg);
        }
        match request {
            Request::Resolve(p) => match self.admin_route(&p) {
                Ok((port, query, flags)) => {
                    self.start_resolve(slot, port, &query, flags, Waiting::Admin { id })
                }
                Err((code, msg)) => {
                    self.stats.resolves += 1;
                    self.stats.errors += 1;
                    self.reply_error(slot, id, code, &msg)
                }
            },
            Request::Add(p) => self.op_add(slot, id, p),
            Request::Del(p) => self.op_del(slot, id, p),
            Request::Flush(p) => self.op_flush(slot, id, p),
            Request::Dump(p) => {
                if self.active_dumps >= MAX_DUMPS {
                    return self.reply_error(
                        slot,
                        id,
                        ErrorCode::Overloaded,
                        "too many dumps in progress; retry",
                    );
                }
                let now = self.now();
                let tables: Vec<_> = self.ports.iter().map(|s| (s.umad(), s.engine.table())).collect();
                let stream = DumpStream::snapshot(&tables, id, p.chunk, now);
                if let Some(c) = self.clients.get_mut(slot) {
                    c.dump = Some(stream);
                    self.active_dumps += 1;
                }
            }
            Request::Stats(_) => {
                let v = self.stats_json();
                self.reply_ok(slot, id, v);
            }
            Request::Events(_) => {
                if let Some(c) = self.clients.get_mut(slot) {
                    c.events = true;
                }
                self.reply_ok(slot, id, json!({"events": "subscribed"}));
            }
            Request::Reregister(_) => self.op_reregister(slot, id),
            Request::Ports(_) => {
                let ports: Vec<Value> = self
                    .ports
                    .iter()
                    .map(|s| {
                        let mut port = serde_json::to_value(&s.attrs).unwrap_or(Value::Null);
                        if let Value::Object(m) = &mut port {
                            m.insert("node_guid".into(), json!(format!("0x{:016x}", s.device.node_guid)));
                            m.insert("sa_reachable".into(), json!(s.engine.sa_reachable()));
                        }
                        port
                    })
                    .collect();
                self.reply_ok(slot, id, json!({"ports": ports}));
            }
        }
    }

    fn op_add(&mut self, slot: usize, id: Value, p: AddParams) {
        let record = match p.path.to_record() {
            Ok(r) => r,
            Err(e) => return self.reply_error(slot, id, ErrorCode::BadRequest, &format!("path: {e}")),
        };
        let port = match p.port {
            Some(u) => self.port_by_umad(u),
            None => self.pin_port(&record),
        };
        let Some(port) = port else {
            let msg = match p.port {
                Some(u) => format!("port umad{u} is not served"),
                None => "the path's SGID and SLID name no local port; give `port`".into(),
            };
            return self.reply_error(slot, id, ErrorCode::NoSuchPort, &msg);
        };
        let origin = Origin { natural: Natural::all(), context: p.context.into() };
        let now = self.now();
        let result = self.ports[port].engine.table_mut().pin(now, &record, origin);
        if !result.is_stored() {
            let msg = format!("the table refused the pin: {result:?}");
            return self.reply_error(slot, id, ErrorCode::PinRefused, &msg);
        }
        let persisted = self.persist_pins();
        log::info!(
            "pinned port=umad{} dgid={} dlid={} sgid={} slid={}",
            self.ports[port].umad(),
            record.dgid,
            record.dlid.get(),
            record.sgid,
            record.slid.get()
        );
        self.broadcast_for(port, json!({"event": "pinned", "path": PathJson::from(&record)}));
        let result = format!("{result:?}").to_lowercase();
        self.reply_ok(slot, id, json!({"result": result, "persisted": persisted}));
    }

    fn op_del(&mut self, slot: usize, id: Value, sel: Selection) {
        let parse = |g: &Option<String>| g.as_deref().map(parse_gid).transpose();
        let (sgid, dgid) = match (parse(&sel.sgid), parse(&sel.dgid)) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(e), _) | (_, Err(e)) => return self.reply_error(slot, id, ErrorCode::BadRequest, &e),
        };
        if sgid.is_none() && dgid.is_none() && sel.slid.is_none() && sel.dlid.is_none() {
            return self.reply_error(
                slot,
                id,
                ErrorCode::BadRequest,
                "give at least one of sgid, dgid, slid, dlid",
            );
        }
        let matches = |r: &localsa_core::wire::path_record::Record| {
            sgid.is_none_or(|g: Gid| r.sgid == g)
                && dgid.is_none_or(|g: Gid| r.dgid == g)
                && sel.slid.is_none_or(|l| r.slid.get() == l)
                && sel.dlid.is_none_or(|l| r.dlid.get() == l)
        };
        let Some(ports) = self.selected_ports(sel.port) else {
            return self.reply_error(slot, id, ErrorCode::NoSuchPort, &not_served(sel.port));
        };
        let mut removed = 0;
        for port in ports {
            let table = self.ports[port].engine.table_mut();
            let victims: Vec<_> = table
                .iter()
                .filter(|e| e.pinned && matches(e.record))
                .filter_map(|e| match e.kind {
                    EntryKind::Path(o) => Some((*e.record, o.context)),
                    _ => None,
                })
                .collect();
            for (record, context) in &victims {
                if table.unpin(record, context) {
                    removed += 1;
                }
            }
        }
        let persisted = if removed > 0 { self.persist_pins() } else { true };
        if removed > 0 {
            log::info!("unpinned count={removed}");
            self.broadcast(&json!({"event": "unpinned", "removed": removed, "port": sel.port}));
        }
        self.reply_ok(slot, id, json!({"removed": removed, "persisted": persisted}));
    }

    fn op_flush(&mut self, slot: usize, id: Value, p: FlushParams) {
        let target = match p.target() {
            Ok(t) => t,
            Err(e) => return self.reply_error(slot, id, ErrorCode::BadRequest, &e),
        };
        let Some(ports) = self.selected_ports(p.port) else {
            return self.reply_error(slot, id, ErrorCode::NoSuchPort, &not_served(p.port));
        };
        let pins = if p.pinned { PinPolicy::Drop } else { PinPolicy::Keep };
        let what = match target {
            FlushTarget::All => json!("all"),
            FlushTarget::Gid(g) => json!({"gid": g.to_string()}),
            FlushTarget::Lid(l) => json!({"lid": l}),
            FlushTarget::Prefix(x) => json!({"prefix": format!("0x{x:016x}")}),
        };
        let (mut removed, mut pins_dropped) = (0, false);
        for &port in &ports {
            let table = self.ports[port].engine.table_mut();
            let pinned_before = table.pinned_len();
            removed += match target {
                FlushTarget::All => table.flush(pins),
                FlushTarget::Gid(g) => table.invalidate_gid(&g, pins),
                FlushTarget::Lid(l) => table.invalidate_lid(l, pins),
                FlushTarget::Prefix(x) => table.invalidate_prefix(x, pins),
            };
            pins_dropped |= table.pinned_len() != pinned_before;
        }
        let persisted = if pins_dropped { self.persist_pins() } else { true };
        let uid = self.clients.get(slot).and_then(|c| c.cred).map(|c| c.uid());
        let port_field = p.port.map_or(Value::Null, |u| json!(u));
        log::info!(
            "flushed target={what} port={port_field} removed={removed} pinned_too={} uid={}",
            p.pinned,
            uid.unwrap_or(0)
        );
        self.broadcast(&json!({"event": "flushed", "target": what, "removed": removed, "pinned": p.pinned, "port": port_field}));
        self.reply_ok(slot, id, json!({"removed": removed, "persisted": persisted}));
    }

    /// What a PortInfo ClientReregister from the SM calls for, on an administrator's word: the
    /// kernel reports that as a verbs async event, which a daemon holding only a umad port
    /// never sees, so a failover script or a person tells it instead. Each port's engine
    /// then reports `sm_changed`.
    fn op_reregister(&mut self, slot: usize, id: Value) {
        let now = self.now();
        // Every port: the word comes for the node, and each port has its own SM session.
        for served in self.ports.iter_mut() {
            served.engine.client_reregister(now);
        }
        let uid = self.clients.get(slot).and_then(|c| c.cred).map(|c| c.uid());
        log::info!("client reregister requested ports={} uid={}", self.ports.len(), uid.unwrap_or(0));
        let sm_changes = self.engine_stats().sm_changes;
        self.reply_ok(slot, id, json!({"sm_changes": sm_changes}));
    }

    fn stats_json(&self) -> Value {
        let e = self.engine_stats();
        let d = self.daemon_stats();
        let acm = acm_counters(&d, &e);
        let acm_map: Map<String, Value> = PerfCounters::NAMES
            .iter()
            .zip(acm.to_array())
            .map(|(name, v)| (name.to_lowercase().replace(' ', "_"), json!(v)))
            .collect();
        let l = &self.settings.clients;
        json!({
            "protocol": PROTOCOL_VERSION,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.uptime(),
            "sa_reachable": self.sa_reachable(),
            "engine": engine_json(&e),
            "table": tables_json(&self.ports),
            "daemon": d,
            "acm": acm_map,
            "limits": {
                "max_clients": self.clients_limit(),
                "max_outstanding": l.max_outstanding,
                "max_buffered": l.max_buffered,
                "max_line": l.max_line,
            },
            "ports": ports_json(&self.ports),
        })
    }

    fn reply_ok(&mut self, slot: usize, id: Value, fields: Value) {
        let mut m = Map::new();
        m.insert("id".into(), id);
        m.insert("ok".into(), Value::Bool(true));
        if let Value::Object(f) = fields {
            m.extend(f);
        }
        let mut line = Value::Object(m).to_string();
        line.push('\n');
        self.queue(slot, line.as_bytes());
    }

    fn reply_error(&mut self, slot: usize, id: Value, code: ErrorCode, message: &str) {
        let line = error_line(id, code, message);
        self.queue(slot, line.as_bytes());
    }
}

/// An error answer line (with its newline).
pub fn error_line(id: Value, code: ErrorCode, message: &str) -> String {
    let mut s = json!({"id": id, "error": {"code": code.as_str(), "message": message}}).to_string();
    s.push('\n');
    s
}

/// The code an engine failure becomes.
pub fn code_of(e: &ResolveError) -> ErrorCode {
    match e {
        ResolveError::Sa(SaError::NoRecords) => ErrorCode::NoPath,
        ResolveError::Sa(_) => ErrorCode::SaError,
        ResolveError::Timeout => ErrorCode::Timeout,
        ResolveError::Overloaded => ErrorCode::Overloaded,
        ResolveError::NotCached => ErrorCode::NotCached,
        ResolveError::Invalid => ErrorCode::InvalidQuery,
        ResolveError::Transfer(_) => ErrorCode::TransferFailed,
        ResolveError::Cancelled => ErrorCode::ShuttingDown,
    }
}

/// The line answering a resolve.
pub fn resolve_answer(id: Value, result: &Result<Answer, ResolveError>) -> Vec<u8> {
    let line = match result {
        Ok(a) => {
            let paths: Vec<PathJson> = a.records.iter().map(PathJson::from).collect();
            let source = match a.source {
                localsa_core::engine::Source::Cache => "cache",
                localsa_core::engine::Source::Sa => "sa",
            };
            let mut s = json!({"id": id, "ok": true, "source": source, "paths": paths}).to_string();
            s.push('\n');
            s
        }
        Err(e) => error_line(id, code_of(e), &e.to_string()),
    };
    line.into_bytes()
}
