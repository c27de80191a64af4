//! Serving the ACM protocol (rdma-core's ibacm clients: `ib_acme`, librdmacm) with the
//! engine. The codec is [`crate::server::acm`]; this file decides what each request means.
//!
//! * **Resolve, path form** (`ib_acme -f g` / `-f l`, librdmacm with AF_IB): the query takes
//!   the SGID, SLID, DGID and DLID the client set (any non-zero one), Reversible and NumbPath
//!   from `reversible_numpath`, the P_Key if non-zero; with no source, the first port is the
//!   source (its GID for a GID destination, its LID for a LID one). The request goes to the
//!   engine of the port its source names ([`super::route`]). With one port, a source that is
//!   not local is allowed, unlike ibacm: the SA answers for any pair, and so do we; with
//!   several, such a source is `ESRCADDR`, as ibacm answers it.
//! * **Resolve, address form** (`-f n`, `-f i`, librdmacm `rdma_getaddrinfo`): names and IP
//!   addresses are looked up in the hosts file (`ibacm_hosts.data`); GID and LID entries are
//!   used as they are, and routed as above. Without a source we resolve from the first port
//!   and, as ibacm does,
//!   return the source we used when the hosts file names one of the same kind (a name for a
//!   name, an address of the same family for an IP address). librdmacm's route hint is not
//!   used.
//! * `ACM_FLAGS_QUERY_SA` (`-v`) bypasses the cache; `ACM_FLAGS_NODELAY` (`-c`) answers from
//!   the cache only.
//! * **Perf query**: "all" gets the daemon-wide counters of [`super::stats::acm_counters`];
//!   endpoint N (a served port, in order) and an address of a served port get that port's
//!   ([`super::stats::port_acm_counters`]; with one port, the daemon-wide ones); other
//!   endpoints are `ESRCADDR`.
//! * **Endpoint query**: one endpoint per served port; index N among those on the port
//!   number asked (all of them for port 0), as ibacm counts its endpoints.
//!
//! Statuses: no path (SA ERR_NO_RECORDS, or not cached with NODELAY) is `ENODATA`; no SA
//! answer (or shutdown) `ETIMEDOUT`; too many resolves in flight `ENOMEM`; an invalid GID
//! `EDESTADDR`; other SA refusals and unsendable queries `EINVAL`.

use localsa_core::engine::{Answer, LocalPort, ResolveError, ResolveFlags};
use localsa_core::table::Query;
use localsa_core::wire::{PathRecordMask, PathRecordRepr, SaError};

use super::client::Waiting;
use super::port::owns_lid;
use super::route::{route, SourceKey};
use super::runtime::Runtime;
use super::stats::{acm_counters, port_acm_counters};
use crate::server::acm::{
    decode_request, AcmRequest, AcmResponse, AcmStatus, Decoded, Endpoint, EpConfig, EpQuery, ErrorAction,
    Operation, PathData, PathFlags, PerfQuery, PerfTarget, ResolveForm, ResolveRequest, MAX_EP_ENTRIES,
};
use crate::server::hosts::{HostAddress, Hosts};

/// The provider name an endpoint query reports.
const PROVIDER: &str = "localsa";

impl Runtime<'_> {
    /// Decodes and serves the complete requests in an ACM client's buffer.
    pub(super) fn acm_process(&mut self, slot: usize) {
        let max = self.settings.clients.max_outstanding;
        loop {
            let Some(c) = self.clients.get_mut(slot) else { return };
            if c.doomed.is_some() || c.close_after_flush || c.waiting.len() >= max || c.inbuf.is_empty() {
                return;
            }
            match decode_request(&c.inbuf) {
                Ok(Decoded::NeedMore { .. }) => return,
                Ok(Decoded::Complete { request, consumed }) => {
                    c.consume(consumed);
                    self.stats.acm_requests += 1;
                    self.acm_request(slot, request);
                }
                Err(e) => match e.action() {
                    ErrorAction::Disconnect => {
                        log::info!(
                            "ACM client sent an unframeable message slot={slot} pid={} error={e:?}",
                            c.cred.map(|c| c.pid()).unwrap_or(0)
                        );
                        // Answer what came before, then hang up: the stream cannot be
                        // re-synchronised (ibacm drops such clients too).
                        c.close_when_flushed(std::time::Instant::now());
                        self.stats.clients_dropped_malformed += 1;
                        self.mark_dirty(slot);
                        return;
                    }
                    ErrorAction::Answer { consumed, .. } => {
                        c.consume(consumed);
                        self.stats.acm_requests += 1;
                        self.stats.errors += 1;
                        if let Some(answer) = e.error_response() {
                            self.queue(slot, &answer);
                        }
                    }
                },
            }
        }
    }

    fn acm_request(&mut self, slot: usize, request: AcmRequest) {
        match request {
            AcmRequest::Resolve(r) => match self.acm_route(&r) {
                Ok((port, query, flags, source)) => {
                    self.start_resolve(slot, port, &query, flags, Waiting::Acm { tid: r.tid, source })
                }
                Err(status) => {
                    self.stats.resolves += 1;
                    if status == AcmStatus::NoData {
                        self.stats.no_data += 1;
                    } else {
                        self.stats.errors += 1;
                    }
                    let bytes = error_bytes(Operation::Resolve, r.tid, status);
                    self.queue(slot, &bytes);
                }
            },
            AcmRequest::PerfQuery(p) => {
                let bytes = self.perf_answer(&p);
                self.queue(slot, &bytes);
            }
            AcmRequest::EpQuery(e) => {
                let bytes = self.ep_answer(&e);
                self.queue(slot, &bytes);
            }
        }
    }

    /// The port a resolve goes to, with its query, flags and the source to name in the answer.
    fn acm_route(
        &mut self,
        r: &ResolveRequest,
    ) -> Result<(usize, Query, ResolveFlags, Option<Endpoint>), AcmStatus> {
        let (query, flags, source) = acm_query(r, self.ports[0].local(), &self.hosts, &mut self.stats)?;
        let key = SourceKey::of_query(&query);
        match route(&self.ports, key) {
            Some(port) => Ok((port, query, flags, source)),
            None => {
                log::debug!(
                    "ACM resolve from a source that is no local port sgid={:?} slid={:?}",
                    key.sgid,
                    key.slid
                );
                Err(AcmStatus::SourceAddress)
            }
        }
    }

    fn perf_answer(&mut self, p: &PerfQuery) -> Vec<u8> {
        let (port, index) = match &p.target {
            PerfTarget::All => (None, 0),
            PerfTarget::Index(n) => {
                (Some((*n as usize).checked_sub(1).filter(|&i| i < self.ports.len())), *n)
            }
            PerfTarget::Address(ep) => {
                (Some(self.ports.iter().position(|s| is_local(ep, s.local(), &self.hosts))), 0)
            }
        };
        let counters = match port {
            None => acm_counters(&self.daemon_stats(), &self.engine_stats()),
            Some(None) => {
                self.stats.errors += 1;
                return error_bytes(Operation::PerfQuery, p.tid, AcmStatus::SourceAddress);
            }
            // One port: its endpoint's counters are the daemon's, as they always were.
            Some(Some(_)) if self.ports.len() == 1 => {
                acm_counters(&self.daemon_stats(), &self.engine_stats())
            }
            Some(Some(i)) => port_acm_counters(&self.ports[i].counters(), &self.ports[i].engine.stats()),
        };
        encode_or_error(AcmResponse::perf(p.tid, index, &counters), Operation::PerfQuery, p.tid)
    }

    fn ep_answer(&mut self, e: &EpQuery) -> Vec<u8> {
        // ibacm's numbering: endpoints counted from 1 over the ports, those of one port number
        // only when a port is asked.
        let found = self
            .ports
            .iter()
            .filter(|s| e.port == 0 || e.port == s.attrs.port)
            .nth((e.index as usize).wrapping_sub(1));
        let Some(served) = found else {
            return error_bytes(Operation::EpQuery, e.tid, AcmStatus::Invalid);
        };
        let local = served.local();
        let addrs: Vec<String> = self
            .hosts
            .by_gid(local.gid)
            .map(|h| h.address.to_string())
            .filter(|a| a.len() < crate::server::acm::MAX_ADDRESS)
            .take(1000)
            .collect();
        let config = EpConfig {
            dev_guid: served.device.node_guid,
            port_num: served.attrs.port,
            phys_port_cnt: served.device.ports,
            pkey: local.pkeys.first().copied().unwrap_or(0xffff),
            prov_name: PROVIDER.into(),
            addrs,
        };
        encode_or_error(AcmResponse::Ep { tid: e.tid, index: e.index, config }, Operation::EpQuery, e.tid)
    }
}

/// The query an ACM resolve asks, its flags, and the source to name in the answer.
fn acm_query(
    r: &ResolveRequest,
    local: &LocalPort,
    hosts: &Hosts,
    stats: &mut super::stats::DaemonStats,
) -> Result<(Query, ResolveFlags, Option<Endpoint>), AcmStatus> {
    let flags = if r.query_sa() {
        ResolveFlags::BYPASS_CACHE
    } else if r.nodelay() {
        ResolveFlags::CACHE_ONLY
    } else {
        ResolveFlags::empty()
    };
    let mut t = Query::EMPTY_TEMPLATE;
    let mut m = PathRecordMask::empty();
    let mut chosen = None;
    match r.form {
        ResolveForm::Path => {
            let p = r.path_hint.unwrap_or_default();
            if !p.sgid.is_zero() {
                (t.sgid, m) = (p.sgid, m | PathRecordMask::SGID);
            }
            if p.slid != 0 {
                (t.slid, m) = (p.slid, m | PathRecordMask::SLID);
            }
            if !p.dgid.is_zero() {
                (t.dgid, m) = (p.dgid, m | PathRecordMask::DGID);
            }
            if p.dlid != 0 {
                (t.dlid, m) = (p.dlid, m | PathRecordMask::DLID);
            }
            if !m.intersects(PathRecordMask::DGID | PathRecordMask::DLID) {
                return Err(AcmStatus::DestAddress);
            }
            if !m.intersects(PathRecordMask::SGID | PathRecordMask::SLID) {
                if p.dlid != 0 {
                    (t.slid, m) = (local.lid, m | PathRecordMask::SLID);
                } else {
                    (t.sgid, m) = (local.gid, m | PathRecordMask::SGID);
                }
            }
            options(&p, &mut t, &mut m);
        }
        ResolveForm::Address => {
            match &r.dst {
                Endpoint::Gid(g) => (t.dgid, m) = (*g, m | PathRecordMask::DGID),
                Endpoint::Lid(l) => (t.dlid, m) = (*l, m | PathRecordMask::DLID),
                Endpoint::Path(_) => return Err(AcmStatus::DestType),
                ep => match hosts.lookup_endpoint(ep) {
                    Some(h) => {
                        stats.address_hits += 1;
                        (t.dgid, m) = (h.gid, m | PathRecordMask::DGID);
                    }
                    None => {
                        stats.address_misses += 1;
                        return Err(AcmStatus::DestAddress);
                    }
                },
            }
            let by_lid = m.contains(PathRecordMask::DLID);
            match &r.src {
                Some(Endpoint::Gid(g)) => (t.sgid, m) = (*g, m | PathRecordMask::SGID),
                Some(Endpoint::Lid(l)) => (t.slid, m) = (*l, m | PathRecordMask::SLID),
                Some(Endpoint::Path(_)) => return Err(AcmStatus::SourceType),
                Some(ep) => match hosts.lookup_endpoint(ep) {
                    Some(h) => {
                        stats.address_hits += 1;
                        (t.sgid, m) = (h.gid, m | PathRecordMask::SGID);
                    }
                    None => {
                        stats.address_misses += 1;
                        return Err(AcmStatus::SourceAddress);
                    }
                },
                None => {
                    if by_lid {
                        (t.slid, m) = (local.lid, m | PathRecordMask::SLID);
                    } else {
                        (t.sgid, m) = (local.gid, m | PathRecordMask::SGID);
                    }
                    chosen = chosen_source(&r.dst, local, hosts);
                }
            }
            // What ib_acme asks in the path form: one reversible path.
            t.reversible = true;
            t.numb_path = 1;
            m |= PathRecordMask::REVERSIBLE | PathRecordMask::NUMB_PATH;
        }
    }
    Ok((Query::new(t, m), flags, chosen))
}

/// Reversible, NumbPath and P_Key from a client's path template.
fn options(p: &PathRecordRepr, t: &mut PathRecordRepr, m: &mut PathRecordMask) {
    if p.reversible {
        t.reversible = true;
        *m |= PathRecordMask::REVERSIBLE;
    }
    if p.numb_path != 0 {
        t.numb_path = p.numb_path;
        *m |= PathRecordMask::NUMB_PATH;
    }
    if p.pkey != 0 {
        t.pkey = p.pkey;
        *m |= PathRecordMask::PKEY;
    }
}

/// The local port's name or address of the same kind as the destination, if the hosts file
/// has one.
fn chosen_source(dst: &Endpoint, local: &LocalPort, hosts: &Hosts) -> Option<Endpoint> {
    hosts.by_gid(local.gid).find_map(|h| match (&h.address, dst) {
        (HostAddress::Name(n), Endpoint::Name(_)) => Some(Endpoint::Name(n.clone())),
        (HostAddress::Ipv4(a), Endpoint::Ipv4(_)) => Some(Endpoint::Ipv4(*a)),
        (HostAddress::Ipv6(a), Endpoint::Ipv6(_)) => Some(Endpoint::Ipv6(*a)),
        _ => None,
    })
}

/// Whether an address names the local port.
fn is_local(ep: &Endpoint, local: &LocalPort, hosts: &Hosts) -> bool {
    match ep {
        Endpoint::Gid(g) => *g == local.gid,
        Endpoint::Lid(l) => owns_lid(local, *l),
        Endpoint::Path(p) => p.sgid == local.gid || owns_lid(local, p.slid),
        other => hosts.lookup_endpoint(other).is_some_and(|h| h.gid == local.gid),
    }
}

/// The status an engine failure becomes.
pub fn status_of(e: &ResolveError) -> AcmStatus {
    match e {
        ResolveError::Sa(SaError::NoRecords) | ResolveError::NotCached => AcmStatus::NoData,
        ResolveError::Sa(SaError::InvalidGid) => AcmStatus::DestAddress,
        ResolveError::Sa(SaError::NoResources) | ResolveError::Overloaded => AcmStatus::NoMemory,
        ResolveError::Sa(_) | ResolveError::Invalid => AcmStatus::Invalid,
        ResolveError::Timeout | ResolveError::Transfer(_) | ResolveError::Cancelled => AcmStatus::TimedOut,
    }
}

/// The bytes answering a resolve.
pub fn resolve_answer(tid: u64, result: &Result<Answer, ResolveError>, source: Option<Endpoint>) -> Vec<u8> {
    match result {
        Ok(a) => {
            let room = MAX_EP_ENTRIES - usize::from(source.is_some());
            let paths: Vec<PathData> = a
                .records
                .iter()
                .take(room)
                .enumerate()
                .map(|(i, r)| {
                    let path = PathRecordRepr::parse(r);
                    if i == 0 {
                        PathData::primary(path)
                    } else {
                        PathData {
                            flags: PathFlags::GMP | PathFlags::ALTERNATE | PathFlags::BIDIRECTIONAL,
                            path,
                        }
                    }
                })
                .collect();
            encode_or_error(AcmResponse::resolve(tid, &paths, source), Operation::Resolve, tid)
        }
        Err(e) => error_bytes(Operation::Resolve, tid, status_of(e)),
    }
}

fn error_bytes(op: Operation, tid: u64, status: AcmStatus) -> Vec<u8> {
    AcmResponse::Error { op, tid, status }.encode().unwrap_or_default()
}

fn encode_or_error(r: AcmResponse, op: Operation, tid: u64) -> Vec<u8> {
    match r.encode() {
        Ok(b) => b,
        Err(e) => {
            log::warn!("ACM answer cannot be encoded error={e}");
            error_bytes(op, tid, AcmStatus::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use localsa_core::wire::Gid;

    fn local() -> LocalPort {
        LocalPort::infiniband(8, Gid::new(0xfe80 << 48, 5), 1)
    }

    #[test]
    fn path_form_by_lid_takes_local_source() {
        let p = PathRecordRepr { dlid: 9, reversible: true, numb_path: 1, ..Default::default() };
        let r = ResolveRequest::path(0, Default::default(), p);
        let (q, f, src) = acm_query(&r, &local(), &Hosts::default(), &mut Default::default()).unwrap();
        assert_eq!(q, Query::between_lids(8, 9).with_reversible().with_numb_path(1));
        assert!(f.is_empty());
        assert!(src.is_none());
    }

    #[test]
    fn address_form_uses_the_hosts_file() {
        let (hosts, _) = Hosts::parse(b"me fe80::5\nyou fe80::9\n10.0.0.5 fe80::5\n");
        let mut l = local();
        l.gid = Gid::parse("fe80::5").unwrap();
        let r = ResolveRequest::address(0, Default::default(), None, Endpoint::Name("you".into()));
        let (q, _, src) = acm_query(&r, &l, &hosts, &mut Default::default()).unwrap();
        assert_eq!(q.template.dgid, Gid::parse("fe80::9").unwrap());
        assert_eq!(q.template.sgid, l.gid);
        assert_eq!(src, Some(Endpoint::Name("me".into())));
        let r = ResolveRequest::address(0, Default::default(), None, Endpoint::Name("nobody".into()));
        assert_eq!(acm_query(&r, &l, &hosts, &mut Default::default()).unwrap_err(), AcmStatus::DestAddress);
    }

    #[test]
    fn statuses() {
        assert_eq!(status_of(&ResolveError::Sa(SaError::NoRecords)), AcmStatus::NoData);
        assert_eq!(status_of(&ResolveError::Timeout), AcmStatus::TimedOut);
        assert_eq!(status_of(&ResolveError::Overloaded), AcmStatus::NoMemory);
        assert_eq!(status_of(&ResolveError::Cancelled), AcmStatus::TimedOut);
    }
}
