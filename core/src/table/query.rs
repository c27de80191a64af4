//! SA-style matching: which cached PathRecord may answer which PathRecord query.
//!
//! A query is what a client sends to the SA: a PathRecord template and a component mask. The
//! table may answer it from a cached record only if OpenSM's SA, asked the same query, would
//! return that same record. The rules below come from `opensm/osm_sa_path_record.c`
//! (`osm_pr_rcv_process`, `osm_pr_get_end_points`, `pr_rcv_get_path_parms`,
//! `pr_rcv_get_lid_pair_path`, `pr_rcv_get_port_pair_paths`) and `opensm/osm_qos_policy.c`
//! (`__qos_policy_get_qos_level_by_params`); each rule names its source.
//!
//! # Per component-mask bit
//!
//! | bit | OpenSM | table |
//! |-----|--------|-------|
//! | SGID, SLID | the source port (`osm_pr_get_end_points`) | must equal the record's; one of them is required |
//! | DGID, DLID | the destination port | must equal the record's; one of them is required, and picks the hash index (DGID first) |
//! | DGID multicast | answered from the multicast group (`pr_process_multicast`), selectors unchecked | [`Lookup::Unsupported`](super::Lookup) |
//! | ServiceID | both halves or neither, else `ERR_REQ_INSUFFICIENT_COMPONENTS`; only selects a QoS level; the reply carries ServiceID 0 | context: must equal the inserting query's; half a ServiceID is unsupported |
//! | QosClass | only selects a QoS level; the reply carries 0 | context, as ServiceID |
//! | P_Key | the reply's P_Key is the one asked for; also selects a QoS level (a pkey rule only matches a query with the P_Key bit) | must equal the record's, *and* the inserting query must have named a P_Key too; a query without P_Key is answered only by records whose P_Key the SA chose |
//! | RawTraffic (bit set) | P_Key forced to 0 in the reply, P_Key bit ignored | context: only records fetched for raw traffic answer raw queries, and vice versa |
//! | SL | the reply's SL is the one asked for (or no path) | must equal the record's; a query without SL is answered only by records whose SL the SA chose ([`Natural::SL`]) |
//! | Reversible (bit set) | only reversible paths (`pr_rcv_get_lid_pair_path`); 0 is "don't care" | the record must be reversible |
//! | NumbPath | at most that many paths (GetTable) | at most that many records; without the bit, as many as fit the caller's slice |
//! | MTU, Rate, PacketLifeTime + selectors | see below; a selector without its value (or the reverse) is ignored; with both bits, an invalid MTU or rate is `ERR_REQ_INVALID` whatever the selector | see below; an invalid MTU or rate is unsupported |
//! | FlowLabel, HopLimit, TClass, Preference | ignored for unicast destinations | ignored |
//!
//! # MTU, rate and packet lifetime
//!
//! For each of the three OpenSM first computes the path's own value `p` (the smallest MTU and
//! rate along the route, the subnet's packet lifetime, capped by the QoS level), then applies
//! the query's selector against the asked value `x` (`pr_rcv_get_path_parms`):
//!
//! * no selector, or *largest available*: returns `p`;
//! * *greater than*: returns `p` if `p > x`, else no path;
//! * *less than*: returns `p` if `p < x`, else the value just below `x` (`x - 1` for MTU and
//!   lifetime, `ib_path_rate_get_prev(x)` for rate), or no path if there is none (MTU or
//!   lifetime `x <= 1`, rate `x` = 2.5 Gb/s);
//! * *exactly*: MTU and lifetime: returns `x` if `p >= x`, else no path; rate: returns `x` only
//!   if `p == x` (`ib_path_compare_rates(rate, required) != 0` fails).
//!
//! Rates are compared with [`Rate::order_key`] (OpenSM's `ordered_rates[]`), MTU and lifetime
//! by code. A reply's value `v` is therefore never above `p`. A cached value `v` answers a
//! selector only if the SA would return `v` for *every* `p` the table cannot rule out: `p = v`
//! when the entry's value is [natural](Natural) (the query that fetched it left that value to
//! the SA, or bounded it in a way that did not bite), any `p >= v` otherwise. That gives:
//!
//! | query | a natural `v` answers when | a non-natural `v` answers when |
//! |-------|---------------------------|-------------------------------|
//! | none, largest | always | `v` is the largest code (MTU 4096, lifetime 63) |
//! | greater than `x` | `v > x` | `v > x` and `v` is the largest code |
//! | less than `x` | `v < x` | `v` is the value just below `x` |
//! | exactly `x` | `v == x` | MTU, lifetime: `v == x`; rate: `v == x` and `v` is the largest code (never, as newer rate codes exist) |
//!
//! So a record fetched under "MTU less than 4096" (and given 2048) never answers a query that
//! wants the largest MTU, but does answer "MTU less than 4096" again. Unknown codes (a rate
//! newer than this crate) are never compared: such a record only answers queries that leave
//! that value to the SA.
//!
//! Not modelled: OpenSM's Tavor quirk (`enable_quirks` caps `p` at 1K MTU for old Mellanox
//! Tavor HCAs unless the query asks for more), and the routing engine's `path_sl` hook beyond
//! what the [`Natural::SL`] rule already covers.

use bitflags::bitflags;

use super::entry::{flags, Entry};
use crate::wire::path_record::Record;
use crate::wire::{Gid, Mtu, PacketLifetime, PathRecordMask, PathRecordRepr, Rate, Selector};

/// A PathRecord query exactly as a client sends it to the SA: a template and the component mask
/// saying which of its fields count.
///
/// The builder methods set a field and its mask bits together, so a query reads like the
/// request it stands for: `Query::between_gids(sgid, dgid).with_pkey(0xffff).with_numb_path(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Query {
    /// The template; fields whose mask bit is clear are ignored.
    pub template: PathRecordRepr,
    /// Which fields of `template` the SA must honour.
    pub mask: PathRecordMask,
}

impl Query {
    /// A query from a template and component mask (e.g. straight from a client's MAD).
    pub const fn new(template: PathRecordRepr, mask: PathRecordMask) -> Self {
        Query { template, mask }
    }

    /// The all-zero template ([`PathRecordRepr::default`], as a constant).
    pub const EMPTY_TEMPLATE: PathRecordRepr = PathRecordRepr {
        service_id: 0,
        dgid: Gid::ZERO,
        sgid: Gid::ZERO,
        dlid: 0,
        slid: 0,
        raw_traffic: false,
        flow_label: 0,
        hop_limit: 0,
        tclass: 0,
        reversible: false,
        numb_path: 0,
        pkey: 0,
        qos_class: 0,
        sl: 0,
        mtu_selector: Selector::GreaterThan,
        mtu: Mtu::Unknown(0),
        rate_selector: Selector::GreaterThan,
        rate: Rate::Unknown(0),
        packet_lifetime_selector: Selector::GreaterThan,
        packet_lifetime: PacketLifetime(0),
        preference: 0,
    };

    /// The paths from `sgid` to `dgid`.
    pub const fn between_gids(sgid: Gid, dgid: Gid) -> Self {
        let mut template = Self::EMPTY_TEMPLATE;
        (template.sgid, template.dgid) = (sgid, dgid);
        Query { template, mask: PathRecordMask::SGID.union(PathRecordMask::DGID) }
    }

    /// The paths from `slid` to `dlid`.
    pub const fn between_lids(slid: u16, dlid: u16) -> Self {
        let mut template = Self::EMPTY_TEMPLATE;
        (template.slid, template.dlid) = (slid, dlid);
        Query { template, mask: PathRecordMask::SLID.union(PathRecordMask::DLID) }
    }

    /// Also names the source GID.
    pub fn with_sgid(mut self, sgid: Gid) -> Self {
        self.template.sgid = sgid;
        self.mask |= PathRecordMask::SGID;
        self
    }

    /// Also names the destination GID.
    pub fn with_dgid(mut self, dgid: Gid) -> Self {
        self.template.dgid = dgid;
        self.mask |= PathRecordMask::DGID;
        self
    }

    /// Also names the source LID.
    pub fn with_slid(mut self, slid: u16) -> Self {
        self.template.slid = slid;
        self.mask |= PathRecordMask::SLID;
        self
    }

    /// Also names the destination LID.
    pub fn with_dlid(mut self, dlid: u16) -> Self {
        self.template.dlid = dlid;
        self.mask |= PathRecordMask::DLID;
        self
    }

    /// Asks for this P_Key.
    pub fn with_pkey(mut self, pkey: u16) -> Self {
        self.template.pkey = pkey;
        self.mask |= PathRecordMask::PKEY;
        self
    }

    /// Asks for this service level.
    pub fn with_sl(mut self, sl: u8) -> Self {
        self.template.sl = sl;
        self.mask |= PathRecordMask::SL;
        self
    }

    /// Constrains the MTU.
    pub fn with_mtu(mut self, selector: Selector, mtu: Mtu) -> Self {
        self.template.mtu_selector = selector;
        self.template.mtu = mtu;
        self.mask |= PathRecordMask::MTU_SELECTOR | PathRecordMask::MTU;
        self
    }

    /// Constrains the rate.
    pub fn with_rate(mut self, selector: Selector, rate: Rate) -> Self {
        self.template.rate_selector = selector;
        self.template.rate = rate;
        self.mask |= PathRecordMask::RATE_SELECTOR | PathRecordMask::RATE;
        self
    }

    /// Constrains the packet lifetime.
    pub fn with_packet_lifetime(mut self, selector: Selector, lifetime: PacketLifetime) -> Self {
        self.template.packet_lifetime_selector = selector;
        self.template.packet_lifetime = lifetime;
        self.mask |= PathRecordMask::PACKET_LIFETIME_SELECTOR | PathRecordMask::PACKET_LIFETIME;
        self
    }

    /// Asks for at most `n` paths.
    pub fn with_numb_path(mut self, n: u8) -> Self {
        self.template.numb_path = n;
        self.mask |= PathRecordMask::NUMB_PATH;
        self
    }

    /// Names a service (both ServiceID halves).
    pub fn with_service_id(mut self, service_id: u64) -> Self {
        self.template.service_id = service_id;
        self.mask |= PathRecordMask::SERVICE_ID;
        self
    }

    /// Names a QoS class.
    pub fn with_qos_class(mut self, qos_class: u16) -> Self {
        self.template.qos_class = qos_class;
        self.mask |= PathRecordMask::QOS_CLASS;
        self
    }

    /// Requires a reversible path.
    pub fn with_reversible(mut self) -> Self {
        self.template.reversible = true;
        self.mask |= PathRecordMask::REVERSIBLE;
        self
    }

    /// Asks for a raw-traffic path.
    pub fn with_raw_traffic(mut self) -> Self {
        self.template.raw_traffic = true;
        self.mask |= PathRecordMask::RAW_TRAFFIC;
        self
    }
}

bitflags! {
    /// Which of a record's SA-chosen values are *natural*: the value OpenSM computes for the path
    /// itself, before a query's selector lowers it (see the module docs).
    ///
    /// Only a natural value may answer a query that leaves the value to the SA ("largest
    /// available", or no selector at all), because that is what such a query gets.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Natural: u8 {
        /// The MTU is the path's largest.
        const MTU = 1 << 0;
        /// The rate is the path's fastest.
        const RATE = 1 << 1;
        /// The packet lifetime is the path's own (the SA's smallest).
        const PACKET_LIFETIME = 1 << 2;
        /// The SL is the one the SA picks when none is asked for (partition or QoS SL).
        const SL = 1 << 3;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Natural {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "Natural({=u8:#x})", self.bits())
    }
}

/// The parts of the inserting query that steer OpenSM's choice of QoS level (and so the path's
/// SL, MTU and rate limits) without showing in the reply.
///
/// OpenSM's QoS match rules (`osm_qos_policy.c`) look at the ServiceID, QoS class and P_Key of
/// the *request*, and only when their mask bits are set; the reply carries ServiceID 0 and QoS
/// class 0. A cached record may therefore only answer a query with the same context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Context {
    /// The ServiceID, if the query named one (both mask halves).
    pub service_id: Option<u64>,
    /// The QoS class, if the query named one.
    pub qos_class: Option<u16>,
    /// The query named a P_Key (the record's P_Key is then the one it named).
    pub pkey: bool,
    /// The query asked for raw traffic (OpenSM then replies with P_Key 0).
    pub raw_traffic: bool,
}

impl Context {
    /// The context of a query.
    pub fn of(query: &Query) -> Context {
        let (t, m) = (&query.template, query.mask);
        let raw_traffic = m.contains(PathRecordMask::RAW_TRAFFIC) && t.raw_traffic;
        Context {
            service_id: m.contains(PathRecordMask::SERVICE_ID).then_some(t.service_id),
            qos_class: m.contains(PathRecordMask::QOS_CLASS).then_some(t.qos_class),
            pkey: m.contains(PathRecordMask::PKEY) && !raw_traffic,
            raw_traffic,
        }
    }
}

/// How a record came to be in the table: what the inserter knows about the query that fetched
/// it. This is what keeps a record fetched under "MTU less than 4096" from being served as the
/// largest available MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Origin {
    /// Which values are the SA's own choice for the path.
    pub natural: Natural,
    /// The query's QoS-steering fields.
    pub context: Context,
}

impl Origin {
    /// A record the SA returned for a query that named only the endpoints: every value is the
    /// SA's best (largest MTU and rate, its own packet lifetime and SL).
    pub const BEST: Origin = Origin {
        natural: Natural::all(),
        context: Context { service_id: None, qos_class: None, pkey: false, raw_traffic: false },
    };

    /// Whether every value is the SA's own choice.
    pub const fn is_best(&self) -> bool {
        self.natural.bits() == Natural::all().bits()
    }

    /// The origin of `answer`, one of the records the SA returned for `query`.
    ///
    /// A value is natural when the query left it to the SA (no selector, or "largest
    /// available"), or constrained it in a way that proves the SA did not lower it: "greater
    /// than" (OpenSM returns the path's value or nothing), "less than x" with an answer below
    /// the value just under `x`, or "exactly" for rate (OpenSM requires the path's rate to be
    /// equal). An answer that does not satisfy its own query is never natural.
    pub fn from_query(query: &Query, answer: &Record) -> Origin {
        let (t, m) = (&query.template, query.mask);
        let mut natural = Natural::empty();
        let dims = [
            (
                Dim::Mtu,
                PathRecordMask::MTU_SELECTOR | PathRecordMask::MTU,
                t.mtu_selector,
                t.mtu.raw(),
                answer.mtu,
            ),
            (
                Dim::Rate,
                PathRecordMask::RATE_SELECTOR | PathRecordMask::RATE,
                t.rate_selector,
                t.rate.raw(),
                answer.rate,
            ),
            (
                Dim::Life,
                PathRecordMask::PACKET_LIFETIME_SELECTOR | PathRecordMask::PACKET_LIFETIME,
                t.packet_lifetime_selector,
                t.packet_lifetime.0,
                answer.packet_lifetime,
            ),
        ];
        for (dim, bits, selector, value, byte) in dims {
            let flag = match dim {
                Dim::Mtu => Natural::MTU,
                Dim::Rate => Natural::RATE,
                Dim::Life => Natural::PACKET_LIFETIME,
            };
            let c = if m.contains(bits) { constraint(selector, value, dim) } else { Ok(NONE) };
            if let Ok(c) = c {
                if dim.natural_after(byte & 0x3f, c) {
                    natural |= flag;
                }
            }
        }
        if !m.contains(PathRecordMask::SL) {
            natural |= Natural::SL;
        }
        Origin { natural, context: Context::of(query) }
    }
}

/// One of the three selector-qualified values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dim {
    Mtu,
    Rate,
    Life,
}

impl Dim {
    /// The value's position in OpenSM's comparison order, or `None` for a code the table will
    /// not compare (an invalid MTU, an unknown rate).
    fn rank(self, code: u8) -> Option<u32> {
        match self {
            Dim::Mtu => Mtu::from_raw(code).bytes().map(|_| code as u32),
            Dim::Rate => {
                let rate = Rate::from_raw(code);
                rate.half_gbps().map(|_| rate.order_key())
            }
            Dim::Life => (code <= 0x3f).then_some(code as u32),
        }
    }

    /// OpenSM's "value just below `x`" for the less-than selector, if there is one.
    fn prev(self, x: u8) -> Option<u8> {
        match self {
            // `if (required_mtu > 1) mtu = required_mtu - 1;` and the same for the lifetime.
            Dim::Mtu | Dim::Life => (x > 1).then(|| x - 1),
            // ib_path_rate_get_prev: the next lower rate in ordered_rates[].
            Dim::Rate => {
                let key = self.rank(x)?;
                let mut best: Option<(u32, u8)> = None;
                for code in 0..=0x3f {
                    if let Some(k) = self.rank(code) {
                        if k < key && best.is_none_or(|(b, _)| k > b) {
                            best = Some((k, code));
                        }
                    }
                }
                best.map(|(_, code)| code)
            }
        }
    }

    /// Whether no path can have a larger value than `code` (so `p >= code` means `p == code`).
    /// Rates have no such code: a newer SA may know faster ones than this crate.
    #[inline(always)]
    fn is_largest(self, code: u8) -> bool {
        match self {
            Dim::Mtu => code == Mtu::Mtu4096.raw(),
            Dim::Life => code == 0x3f,
            Dim::Rate => false,
        }
    }

    /// Whether a cached value `v` answers the constraint `c` (a normalized selector byte, or
    /// [`NONE`]): module docs, second table.
    #[inline(always)]
    pub(crate) fn answers(self, v: u8, natural: bool, c: u8) -> bool {
        if c == NONE {
            natural || self.is_largest(v)
        } else {
            self.answers_selector(v, natural, c)
        }
    }

    /// [`Dim::answers`] for a query with a selector: the uncommon, longer case.
    #[inline(never)]
    fn answers_selector(self, v: u8, natural: bool, c: u8) -> bool {
        let settled = natural || self.is_largest(v);
        let (selector, x) = split(c);
        let (Some(rv), Some(rx)) = (self.rank(v), self.rank(x)) else { return false };
        match selector {
            Selector::GreaterThan => settled && rv > rx,
            Selector::LessThan => rv < rx && (settled || self.prev(x) == Some(v)),
            Selector::Exactly => v == x && (settled || self != Dim::Rate),
            _ => false,
        }
    }

    /// Whether a reply value `v` to the constraint `c` is the path's own value.
    fn natural_after(self, v: u8, c: u8) -> bool {
        if c == NONE {
            return true;
        }
        let (selector, x) = split(c);
        let (Some(rv), Some(rx)) = (self.rank(v), self.rank(x)) else { return false };
        match selector {
            Selector::GreaterThan => rv > rx,
            Selector::LessThan => rv < rx && self.prev(x) != Some(v),
            Selector::Exactly => self == Dim::Rate && v == x,
            _ => false,
        }
    }
}

/// "No constraint" in a normalized selector byte (a real one has selector 0..=2 in its top
/// bits, so it is never `0xff`).
pub(crate) const NONE: u8 = 0xff;

/// A normalized selector byte's selector and value.
const fn split(c: u8) -> (Selector, u8) {
    (Selector::from_raw(c >> 6), c & 0x3f)
}

/// Why the table will not answer a query itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsupported;

/// The constraint a selector/value pair (both masked) puts on a query, as a normalized selector
/// byte (`selector << 6 | value`, or [`NONE`]).
#[inline]
fn constraint(selector: Selector, value: u8, dim: Dim) -> Result<u8, Unsupported> {
    // osm_pr_rcv_process rejects an invalid MTU or rate with ERR_REQ_INVALID whatever the
    // selector, "largest available" included; the lifetime is not validated, but must fit
    // its six bits.
    let valid = match dim {
        Dim::Mtu | Dim::Rate => dim.rank(value).is_some(),
        Dim::Life => value <= 0x3f,
    };
    match selector {
        _ if !valid => Err(Unsupported),
        Selector::Largest => Ok(NONE),
        Selector::GreaterThan | Selector::LessThan | Selector::Exactly => Ok((selector.raw() << 6) | value),
        Selector::Unknown(_) => Err(Unsupported),
    }
}

/// Where a query's paths are indexed: by destination GID or destination LID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dest {
    Gid(Gid),
    Lid(u16),
}

/// The mask bits that stand for themselves in the normal form: the endpoints, ServiceID, QoS
/// class and SL.
const KEPT: PathRecordMask = PathRecordMask::DGID
    .union(PathRecordMask::SGID)
    .union(PathRecordMask::DLID)
    .union(PathRecordMask::SLID)
    .union(PathRecordMask::SERVICE_ID)
    .union(PathRecordMask::QOS_CLASS)
    .union(PathRecordMask::SL);

/// A query reduced to what matters to OpenSM (its normal form), borrowing the query's
/// template: the basis of both matching and the identity of negative entries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compiled<'q> {
    t: &'q PathRecordRepr,
    /// The normal form's mask: the kept bits as given, RAW_TRAFFIC and REVERSIBLE only when
    /// their bit is set, PKEY only without raw traffic; selector bits live in `dims`.
    m: PathRecordMask,
    /// The context as entry flag bits, for a quick comparison.
    context_flags: u16,
    /// MTU, rate, packet lifetime constraints, normalized selector bytes.
    dims: [u8; 3],
    /// NumbPath, if masked; not part of the normal form.
    pub(crate) limit: Option<u8>,
}

impl<'q> Compiled<'q> {
    /// Compiles a query, or says why the table leaves it to the SA.
    // Inlined: returning the struct through memory costs a store-forwarding stall per lookup.
    #[inline(always)]
    pub(crate) fn new(query: &'q Query) -> Result<Compiled<'q>, Unsupported> {
        use PathRecordMask as M;
        let (t, mask) = (&query.template, query.mask);
        // Half a ServiceID: ERR_REQ_INSUFFICIENT_COMPONENTS.
        if mask.contains(M::SERVICE_ID_MSB) != mask.contains(M::SERVICE_ID_LSB) {
            return Err(Unsupported);
        }
        let mut m = mask & KEPT;
        // Multicast destinations are answered from the group, not from paths.
        if (m.contains(M::DGID) && t.dgid.0[0] == 0xff)
            || !m.intersects(M::DGID | M::DLID)
            || !m.intersects(M::SGID | M::SLID)
            || (m.contains(M::QOS_CLASS) && t.qos_class > 0xfff)
            || (m.contains(M::SL) && t.sl > 0xf)
        {
            return Err(Unsupported);
        }
        let raw = mask.contains(M::RAW_TRAFFIC) && t.raw_traffic;
        if raw {
            m |= M::RAW_TRAFFIC;
        } else if mask.contains(M::PKEY) {
            m |= M::PKEY;
        }
        if mask.contains(M::REVERSIBLE) && t.reversible {
            m |= M::REVERSIBLE;
        }
        // The values are only decoded when both their bits are set ("we silently ignore cases
        // where only the MTU selector is defined", and the value alone).
        let both = |bits: M| mask.contains(bits);
        let dims = [
            if both(M::MTU_SELECTOR | M::MTU) {
                constraint(t.mtu_selector, t.mtu.raw(), Dim::Mtu)?
            } else {
                NONE
            },
            if both(M::RATE_SELECTOR | M::RATE) {
                constraint(t.rate_selector, t.rate.raw(), Dim::Rate)?
            } else {
                NONE
            },
            if both(M::PACKET_LIFETIME_SELECTOR | M::PACKET_LIFETIME) {
                constraint(t.packet_lifetime_selector, t.packet_lifetime.0, Dim::Life)?
            } else {
                NONE
            },
        ];
        let flag = |bit: M, flag: u16| if m.contains(bit) { flag } else { 0 };
        let context_flags = flag(M::SERVICE_ID, flags::CTX_SERVICE)
            | flag(M::QOS_CLASS, flags::CTX_QOS)
            | flag(M::PKEY, flags::CTX_PKEY)
            | flag(M::RAW_TRAFFIC, flags::CTX_RAW);
        let limit = mask.contains(M::NUMB_PATH).then_some(t.numb_path);
        Ok(Compiled { t, m, context_flags, dims, limit })
    }

    /// The hash index and key the query is looked up under (DGID first).
    #[inline]
    pub(crate) fn dest(&self) -> Dest {
        if self.m.contains(PathRecordMask::DGID) {
            Dest::Gid(self.t.dgid)
        } else {
            Dest::Lid(self.t.dlid)
        }
    }

    /// The normal form as a record and mask: what a negative entry stores.
    pub(crate) fn normalized(&self) -> (Record, u32) {
        use PathRecordMask as M;
        let (t, m) = (self.t, self.m);
        let mut r = super::entry::ZERO_RECORD;
        let mut mask = m;
        if m.contains(M::DGID) {
            r.dgid = t.dgid;
        }
        if m.contains(M::SGID) {
            r.sgid = t.sgid;
        }
        if m.contains(M::DLID) {
            r.dlid.set(t.dlid);
        }
        if m.contains(M::SLID) {
            r.slid.set(t.slid);
        }
        if m.contains(M::SERVICE_ID) {
            r.service_id.set(t.service_id);
        }
        if m.contains(M::QOS_CLASS) {
            r.set_qos_class(t.qos_class);
        }
        if m.contains(M::RAW_TRAFFIC) {
            r.set_raw_traffic(true);
        }
        if m.contains(M::PKEY) {
            r.pkey.set(t.pkey);
        }
        if m.contains(M::SL) {
            r.set_sl(t.sl);
        }
        if m.contains(M::REVERSIBLE) {
            r.set_reversible(true);
        }
        let [mtu, rate, life] = self.dims;
        if mtu != NONE {
            r.mtu = mtu;
            mask |= M::MTU_SELECTOR | M::MTU;
        }
        if rate != NONE {
            r.rate = rate;
            mask |= M::RATE_SELECTOR | M::RATE;
        }
        if life != NONE {
            r.packet_lifetime = life;
            mask |= M::PACKET_LIFETIME_SELECTOR | M::PACKET_LIFETIME;
        }
        (r, mask.bits() as u32)
    }

    /// Whether the path entry `e` answers this query (module docs).
    #[inline]
    pub(crate) fn answers(&self, e: &Entry) -> bool {
        use PathRecordMask as M;
        let (r, t, m) = (&e.record, self.t, self.m);
        if (m.contains(M::DGID) && r.dgid != t.dgid)
            || (m.contains(M::SGID) && r.sgid != t.sgid)
            || (m.contains(M::DLID) && r.dlid.get() != t.dlid)
            || (m.contains(M::SLID) && r.slid.get() != t.slid)
            || e.flags & flags::CONTEXT != self.context_flags
            || (m.contains(M::SERVICE_ID) && e.service_id != t.service_id)
            || (m.contains(M::QOS_CLASS) && e.qos_class != t.qos_class)
            || (m.contains(M::PKEY) && r.pkey.get() != t.pkey)
            || (m.contains(M::REVERSIBLE) && !r.reversible())
        {
            return false;
        }
        let [mtu, rate, life] = self.dims;
        // The common case: the SA chose every value (the entry is natural throughout) and the
        // query constrains none of them.
        const NATURAL: u16 = flags::NAT_MTU | flags::NAT_RATE | flags::NAT_LIFE | flags::NAT_SL;
        if e.flags & NATURAL == NATURAL && !m.contains(M::SL) && (mtu & rate & life) == NONE {
            return true;
        }
        let sl_ok = if m.contains(M::SL) { r.sl() == t.sl } else { e.has(flags::NAT_SL) };
        sl_ok
            && Dim::Mtu.answers(r.mtu & 0x3f, e.has(flags::NAT_MTU), mtu)
            && Dim::Rate.answers(r.rate & 0x3f, e.has(flags::NAT_RATE), rate)
            && Dim::Life.answers(r.packet_lifetime & 0x3f, e.has(flags::NAT_LIFE), life)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(selector: Selector, value: u8) -> u8 {
        (selector.raw() << 6) | value
    }

    #[test]
    fn empty_template_is_the_default() {
        assert_eq!(Query::EMPTY_TEMPLATE, PathRecordRepr::default());
    }

    #[test]
    fn rate_prev_follows_opensm_order() {
        // ordered_rates: ... 20 Gb/s (5), 30 Gb/s (6), 25 Gb/s (7) ...
        assert_eq!(Dim::Rate.prev(Rate::Gbps25.raw()), Some(Rate::Gbps30.raw()));
        assert_eq!(Dim::Rate.prev(Rate::Gbps30.raw()), Some(Rate::Gbps20.raw()));
        assert_eq!(Dim::Rate.prev(Rate::Gbps10.raw()), Some(Rate::Gbps5.raw()));
        assert_eq!(Dim::Rate.prev(Rate::Gbps5.raw()), Some(Rate::Gbps2_5.raw()));
        assert_eq!(Dim::Rate.prev(Rate::Gbps2_5.raw()), None);
        assert_eq!(Dim::Mtu.prev(1), None);
        assert_eq!(Dim::Life.prev(1), None);
        assert_eq!(Dim::Life.prev(2), Some(1));
    }

    #[test]
    fn dim_rules() {
        use Selector::*;
        let (m2k, m4k) = (Mtu::Mtu2048.raw(), Mtu::Mtu4096.raw());
        // Unconstrained: natural, or the largest code.
        assert!(Dim::Mtu.answers(m2k, true, NONE));
        assert!(!Dim::Mtu.answers(m2k, false, NONE));
        assert!(Dim::Mtu.answers(m4k, false, NONE));
        // Less than: the natural value below, or exactly the value just below.
        assert!(Dim::Mtu.answers(m2k, false, c(LessThan, m4k)));
        assert!(!Dim::Mtu.answers(Mtu::Mtu1024.raw(), false, c(LessThan, m4k)));
        assert!(Dim::Mtu.answers(Mtu::Mtu1024.raw(), true, c(LessThan, m4k)));
        assert!(!Dim::Mtu.answers(m4k, true, c(LessThan, m4k)));
        // Greater than needs the path's own value.
        assert!(Dim::Mtu.answers(m4k, true, c(GreaterThan, m2k)));
        assert!(!Dim::Mtu.answers(m2k, true, c(GreaterThan, m2k)));
        // Exactly: MTU needs only the value, rate needs it natural.
        assert!(Dim::Mtu.answers(m2k, false, c(Exactly, m2k)));
        assert!(!Dim::Rate.answers(3, false, c(Exactly, 3)));
        assert!(Dim::Rate.answers(3, true, c(Exactly, 3)));
    }

    #[test]
    fn origin_natural_flags() {
        let rec = |mtu: Mtu, rate: Rate| {
            let mut r = super::super::entry::ZERO_RECORD;
            r.mtu = 0x80 | mtu.raw();
            r.rate = 0x80 | rate.raw();
            r.packet_lifetime = 0x80 | 18;
            r
        };
        let q = Query::between_lids(1, 2);
        assert!(Origin::from_query(&q, &rec(Mtu::Mtu4096, Rate::Gbps100)).is_best());
        let lt = q.with_mtu(Selector::LessThan, Mtu::Mtu4096);
        // 2048 is what the SA gives whenever the path allows 2048 or more: not natural.
        assert!(!Origin::from_query(&lt, &rec(Mtu::Mtu2048, Rate::Gbps100)).natural.contains(Natural::MTU));
        // 1024 < 2048: the selector did not bite, so 1024 is the path's own.
        assert!(Origin::from_query(&lt, &rec(Mtu::Mtu1024, Rate::Gbps100)).natural.contains(Natural::MTU));
        let eq = q.with_rate(Selector::Exactly, Rate::Gbps40).with_sl(3).with_pkey(0x8001);
        let o = Origin::from_query(&eq, &rec(Mtu::Mtu4096, Rate::Gbps40));
        assert_eq!(o.natural, Natural::MTU | Natural::RATE | Natural::PACKET_LIFETIME);
        assert_eq!(o.context, Context { pkey: true, ..Context::default() });
    }
}
