//! Which port's engine a request goes to, when the daemon serves several.
//!
//! rdma-core's ACM clients all talk to one socket, so one daemon serves every port of the
//! node, one engine each, and sends each request to the engine of the port it names as its
//! source, as ibacm picks the endpoint of the source address:
//!
//! * a source GID goes to the port with that GID;
//! * else a source LID goes to the port whose LIDs (`LID .. LID + 2^LMC - 1`) hold it;
//! * a request without a source goes to the first port (the first `--port`);
//! * a source that names no local port: with one port, that port (the SA answers for any
//!   pair, and localsa always has: `localsa resolve --sgid` for another node's paths); with
//!   several there is no telling which subnet it is on, so the request is refused, as ibacm
//!   refuses it (`ACM_STATUS_ESRCADDR`; admin: `no_such_port`).
//!
//! The GID compared is each port's GID 0 (sysfs `gids/0`); the LID is the one sysfs shows now.
//!
//! The admin requests' `port` field (a umad index) overrides the source for `resolve`
//! (`Runtime::admin_route`) and limits `flush` and `del` to one port
//! (`Runtime::selected_ports`).

use localsa_core::engine::{LocalPort, ResolveFlags};
use localsa_core::table::Query;
use localsa_core::wire::{Gid, PathRecordMask};

use super::port::owns_lid;
use super::protocol::{ErrorCode, ResolveParams};
use super::runtime::Runtime;

/// The source a request names, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceKey {
    /// Source GID, if given.
    pub sgid: Option<Gid>,
    /// Source LID, if given (and not zero).
    pub slid: Option<u16>,
}

impl SourceKey {
    /// The source fields of a PathRecord query (those in its component mask).
    pub fn of_query(q: &Query) -> SourceKey {
        let m = q.mask;
        SourceKey {
            sgid: m.contains(PathRecordMask::SGID).then_some(q.template.sgid),
            slid: m.contains(PathRecordMask::SLID).then_some(q.template.slid).filter(|&l| l != 0),
        }
    }
}

/// What routing looks at in a port: the daemon's served ports, or bare [`LocalPort`]s in tests.
/// Routing reads the ports in place (no list is built per request).
pub trait Routable {
    /// The port as its engine knows it.
    fn local_port(&self) -> &LocalPort;
}

impl Routable for &LocalPort {
    fn local_port(&self) -> &LocalPort {
        self
    }
}

impl Routable for super::served::Served<'_> {
    fn local_port(&self) -> &LocalPort {
        self.local()
    }
}

/// The port (an index into `ports`) for a request with source `key`; `None` when the source
/// names no local port and there are several.
pub fn route(ports: &[impl Routable], key: SourceKey) -> Option<usize> {
    if ports.is_empty() {
        return None;
    }
    let found = match (key.sgid, key.slid) {
        (Some(g), _) => ports.iter().position(|p| p.local_port().gid == g),
        (None, Some(l)) => ports.iter().position(|p| owns_lid(p.local_port(), l)),
        (None, None) => Some(0),
    };
    match found {
        Some(i) => Some(i),
        None if ports.len() == 1 => Some(0),
        None => None,
    }
}

/// The port a path belongs to (a pin, a path read back from the pinned file): the port with
/// its SGID, else the one whose LIDs hold its SLID, else with one port that port (`None`: it
/// names no local port and there are several).
pub fn route_path(ports: &[impl Routable], sgid: Gid, slid: u16) -> Option<usize> {
    ports
        .iter()
        .position(|p| p.local_port().gid == sgid)
        .or_else(|| ports.iter().position(|p| slid != 0 && owns_lid(p.local_port(), slid)))
        .or_else(|| (ports.len() == 1).then_some(0))
}

impl Runtime<'_> {
    /// The port a resolve goes to: `port` if given, else the one its source names
    /// ([`route`]); and its query, with the chosen port as the source if none is given.
    pub(super) fn admin_route(
        &self,
        p: &ResolveParams,
    ) -> Result<(usize, Query, ResolveFlags), (ErrorCode, String)> {
        if let Some(u) = p.port {
            let port = self.port_by_umad(u).ok_or((ErrorCode::NoSuchPort, not_served(Some(u))))?;
            let (q, f) = p.to_query(self.ports[port].local()).map_err(|m| (ErrorCode::InvalidQuery, m))?;
            return Ok((port, q, f));
        }
        let (q, f) = p.to_query(self.ports[0].local()).map_err(|m| (ErrorCode::InvalidQuery, m))?;
        let key = SourceKey::of_query(&q);
        match route(&self.ports, key) {
            Some(port) => Ok((port, q, f)),
            None => Err((
                ErrorCode::NoSuchPort,
                "the source (sgid, slid) is no local port; give `port` to ask one port's SA anyway".into(),
            )),
        }
    }

    /// The ports an operation with an optional `port` works on: that one, or all.
    pub(super) fn selected_ports(&self, port: Option<u32>) -> Option<Vec<usize>> {
        match port {
            Some(u) => self.port_by_umad(u).map(|i| vec![i]),
            None => Some((0..self.ports.len()).collect()),
        }
    }
}

/// The message of `no_such_port` for a `port` the daemon does not serve.
pub fn not_served(port: Option<u32>) -> String {
    format!("port umad{} is not served", port.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(lid: u16, lmc: u8, guid: u64) -> LocalPort {
        let mut p = LocalPort::infiniband(lid, Gid::new(0xfe80 << 48, guid), 1);
        p.lmc = lmc;
        p
    }

    #[test]
    fn by_gid_then_lid_then_first() {
        let (a, b) = (port(4, 0, 0x10), port(8, 2, 0x20));
        let ports = [&a, &b];
        let gid = |g| SourceKey { sgid: Some(Gid::new(0xfe80 << 48, g)), slid: None };
        let lid = |l| SourceKey { sgid: None, slid: Some(l) };
        assert_eq!(route(&ports, gid(0x20)), Some(1));
        assert_eq!(route(&ports, gid(0x10)), Some(0));
        // The GID decides even if the LID names the other port.
        assert_eq!(route(&ports, SourceKey { slid: Some(8), ..gid(0x10) }), Some(0));
        assert_eq!(route(&ports, lid(4)), Some(0));
        // LMC 2: LIDs 8..=11 are port b's.
        assert_eq!(route(&ports, lid(11)), Some(1));
        assert_eq!(route(&ports, lid(12)), None);
        assert_eq!(route(&ports, gid(0x30)), None);
        assert_eq!(route(&ports, SourceKey::default()), Some(0));
        // One port takes any source.
        assert_eq!(route(&[&a], gid(0x30)), Some(0));
        let none: [&LocalPort; 0] = [];
        assert_eq!(route(&none, SourceKey::default()), None);
    }

    #[test]
    fn paths() {
        let (a, b) = (port(4, 0, 0x10), port(8, 0, 0x20));
        let g = |x| Gid::new(0xfe80 << 48, x);
        assert_eq!(route_path(&[&a, &b], g(0x20), 4), Some(1));
        assert_eq!(route_path(&[&a, &b], g(0x99), 8), Some(1));
        assert_eq!(route_path(&[&a, &b], g(0x99), 9), None);
        assert_eq!(route_path(&[&a], g(0x99), 9), Some(0));
    }

    #[test]
    fn key_of_query() {
        let q = Query::between_lids(0, 9);
        assert_eq!(SourceKey::of_query(&q), SourceKey::default());
        let g = Gid::new(0xfe80 << 48, 5);
        let q = Query::between_gids(g, Gid::new(0xfe80 << 48, 6));
        assert_eq!(SourceKey::of_query(&q), SourceKey { sgid: Some(g), slid: None });
    }
}
