//! The ibacm client protocol (rdma-core `librdmacm/acm.h`), as a pure codec: requests from
//! `ib_acme` and librdmacm decoded, answers encoded byte for byte as ibacm sends them.
//!
//! Nothing here touches a socket. The server reads a stream into a buffer and calls
//! [`decode_request`] until it says [`Decoded::NeedMore`]; every outcome names how many bytes
//! were used and, for a bad request, whether ibacm would have answered with a status (and
//! which) or dropped the connection ([`AcmError::action`]).
//!
//! # Layout (all fixed; see `docs/acm-protocol.md`)
//!
//! ```text
//! acm_hdr (16)          version u8 | opcode u8 | status u8 | data[3] | length u16 | tid u64
//! acm_ep_addr_data (72) flags u32 | type u16 | reserved u16 | info[64]
//! acm_ep_config_data (80 + 64 n)
//!                       dev_guid be64 | port_num u8 | phys_port_cnt u8 | rsvd[2] | pkey be16
//!                       | addr_cnt be16 | prov_name[64] | addrs[n][64]
//! ```
//!
//! # Byte order, the protocol's main trap
//!
//! * Resolve messages (opcode 0x01, answers 0x81) are in **host order** — `length`, entry
//!   `flags` and `type` — except the PathRecord inside an entry, which is `struct
//!   ibv_path_record`, in network order like the SA's.
//! * Perf and endpoint queries have `length` in **network order**, their counters and
//!   endpoint config too. But the address entry of an "endpoint by address" perf query is
//!   written by the same libacm helper as a resolve entry, so its `flags` and `type` are in
//!   host order.
//! * `tid` is never interpreted by ibacm or its clients: it is echoed. We read and write it in
//!   host order.
//!
//! ibacm is local-only on a unix socket, so host order is this machine's order; the TCP mode of
//! ibacm (port 6125) has the same rules and is only portable between same-endian hosts.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bitflags::bitflags;
use localsa_core::wire::{self, Gid, PathRecordRepr, SaAttribute};
use zerocopy::byteorder::{big_endian, native_endian};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `ACM_VERSION`: the only protocol version.
pub const ACM_VERSION: u8 = 1;
/// `ACM_OP_MASK`: the operation bits of `opcode`.
pub const OP_MASK: u8 = 0x0f;
/// `ACM_OP_RESOLVE`.
pub const OP_RESOLVE: u8 = 0x01;
/// `ACM_OP_PERF_QUERY`.
pub const OP_PERF_QUERY: u8 = 0x02;
/// `ACM_OP_EP_QUERY`.
pub const OP_EP_QUERY: u8 = 0x03;
/// `ACM_OP_ACK`: set in every answer.
pub const OP_ACK: u8 = 0x80;

/// `ACM_MSG_HDR_LENGTH`.
pub const HDR_LEN: usize = 16;
/// `ACM_MSG_EP_LENGTH`: one `acm_ep_addr_data`.
pub const EP_LEN: usize = 72;
/// `ACM_MAX_ADDRESS`: the `info` union (name, address or PathRecord).
pub const MAX_ADDRESS: usize = 64;
/// `ACM_MAX_PROV_NAME`.
pub const MAX_PROV_NAME: usize = 64;
/// `ACM_MSG_DATA_LENGTH`: the data area of `struct acm_msg`, eight entries.
pub const MSG_DATA_LEN: usize = EP_LEN * 8;
/// `sizeof(struct acm_msg)`: the largest request. ibacm reads requests with one `recv` of
/// this size and drops a client whose message claims more; clients read answers (except the
/// endpoint query's) into the same struct, so resolve and perf answers cannot exceed it either.
pub const MSG_MAX: usize = HDR_LEN + MSG_DATA_LEN;
/// Endpoint entries that fit in [`MSG_MAX`].
pub const MAX_EP_ENTRIES: usize = MSG_DATA_LEN / EP_LEN;
/// `sizeof(struct acm_ep_config_data)` without its address array.
pub const EP_CONFIG_LEN: usize = 80;
/// `ACM_MAX_COUNTER`: counters in a perf answer.
pub const MAX_COUNTER: usize = 7;
/// The largest answer: `length` is 16 bits. Only endpoint-query answers come near it (ibacm
/// grows them up to `USHRT_MAX`; `ib_acme` reads them in two `recv`s, header then body).
pub const RESPONSE_MAX: usize = u16::MAX as usize;

/// `ACM_EP_INFO_NAME`: a host name, NUL-terminated in `info`.
pub const EP_INFO_NAME: u16 = 0x0001;
/// `ACM_EP_INFO_ADDRESS_IP`: an IPv4 address in the first 4 bytes of `info`.
pub const EP_INFO_ADDRESS_IP: u16 = 0x0002;
/// `ACM_EP_INFO_ADDRESS_IP6`: an IPv6 address in the first 16 bytes of `info`.
pub const EP_INFO_ADDRESS_IP6: u16 = 0x0003;
/// `ACM_ADDRESS_GID` (ibacm's `acm_mad.h`, not in `acm.h`): a GID in the first 16 bytes.
/// ibacm accepts it from clients because it only rejects types at or above
/// `ACM_ADDRESS_RESERVED`; no rdma-core client sends it.
pub const EP_INFO_ADDRESS_GID: u16 = 0x0004;
/// `ACM_ADDRESS_LID` (ibacm's `acm_mad.h`): a LID in the first 2 bytes, network order.
pub const EP_INFO_ADDRESS_LID: u16 = 0x0005;
/// `ACM_ADDRESS_RESERVED`: address types at or above it are refused as a source or destination.
pub const EP_INFO_ADDRESS_RESERVED: u16 = 0x0006;
/// `ACM_EP_INFO_PATH`: an `ibv_path_record` (network order) in `info`.
pub const EP_INFO_PATH: u16 = 0x0010;

bitflags! {
    /// The `flags` word of a request entry: which end it names, and the two resolve options,
    /// which share the word (`ACM_EP_FLAG_*`, `ACM_FLAGS_*`). Unknown bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct EpFlags: u32 {
        /// `ACM_EP_FLAG_SOURCE`: the entry is the source.
        const SOURCE = 1 << 0;
        /// `ACM_EP_FLAG_DEST`: the entry is the destination.
        const DEST = 1 << 1;
        /// `ACM_FLAGS_NODELAY` (`ib_acme -c`): answer from the cache or fail with `ENODATA`;
        /// never wait for the fabric.
        const NODELAY = 1 << 30;
        /// `ACM_FLAGS_QUERY_SA` (`ib_acme -v`): ask the SA with this PathRecord as the
        /// template, bypassing the cache. Honoured only on a path-form request.
        const QUERY_SA = 1 << 31;
    }
}

impl EpFlags {
    /// The bits that are request options rather than roles.
    pub const OPTIONS: EpFlags = EpFlags::NODELAY.union(EpFlags::QUERY_SA);
}

bitflags! {
    /// The `flags` word of a PathRecord entry in an answer (`IBV_PATH_FLAG_*` of
    /// `infiniband/sa.h`): librdmacm hands the entry to the application as a
    /// `struct ibv_path_data`, whose first word these are.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PathFlags: u32 {
        /// The path is usable for MADs (the CM).
        const GMP = 1 << 0;
        /// Primary path.
        const PRIMARY = 1 << 1;
        /// Alternate path.
        const ALTERNATE = 1 << 2;
        /// Outbound data path.
        const OUTBOUND = 1 << 3;
        /// Inbound data path.
        const INBOUND = 1 << 4;
        /// Inbound path, reversed.
        const INBOUND_REVERSE = 1 << 5;
        /// Both directions.
        const BIDIRECTIONAL = Self::OUTBOUND.bits() | Self::INBOUND_REVERSE.bits();
    }
}

impl PathFlags {
    /// What ibacm's `acmp` provider sets on the one path it returns:
    /// `GMP | PRIMARY | BIDIRECTIONAL` (0x2b).
    pub const PRIMARY_BIDIRECTIONAL: PathFlags =
        PathFlags::GMP.union(PathFlags::PRIMARY).union(PathFlags::BIDIRECTIONAL);
}

/// `ACM_STATUS_*`. Values without a name (ibacm forwards an SA MAD status byte verbatim on a
/// `QUERY_SA` answer, e.g. 4) are kept in [`AcmStatus::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcmStatus {
    /// `ACM_STATUS_SUCCESS` (0).
    Success,
    /// `ACM_STATUS_ENOMEM` (1).
    NoMemory,
    /// `ACM_STATUS_EINVAL` (2): malformed request.
    Invalid,
    /// `ACM_STATUS_ENODATA` (3): no path (not cached with `NODELAY`, or none exists).
    NoData,
    /// `ACM_STATUS_ENOTCONN` (5).
    NotConnected,
    /// `ACM_STATUS_ETIMEDOUT` (6): the fabric did not answer.
    TimedOut,
    /// `ACM_STATUS_ESRCADDR` (7): the source is not a local endpoint, or is ambiguous.
    SourceAddress,
    /// `ACM_STATUS_ESRCTYPE` (8): the source's address type is not supported.
    SourceType,
    /// `ACM_STATUS_EDESTADDR` (9): the destination is missing, ambiguous or unknown.
    DestAddress,
    /// `ACM_STATUS_EDESTTYPE` (10): the destination's address type is not supported, or
    /// no entry is flagged as the destination.
    DestType,
    /// Any other value.
    Other(u8),
}

impl AcmStatus {
    /// The status byte.
    pub const fn raw(self) -> u8 {
        match self {
            AcmStatus::Success => 0,
            AcmStatus::NoMemory => 1,
            AcmStatus::Invalid => 2,
            AcmStatus::NoData => 3,
            AcmStatus::NotConnected => 5,
            AcmStatus::TimedOut => 6,
            AcmStatus::SourceAddress => 7,
            AcmStatus::SourceType => 8,
            AcmStatus::DestAddress => 9,
            AcmStatus::DestType => 10,
            AcmStatus::Other(v) => v,
        }
    }

    /// The status for a byte; never `Other` for a named value, so `from_raw(s.raw()) == s` for
    /// every status built from a byte.
    pub const fn from_raw(v: u8) -> AcmStatus {
        match v {
            0 => AcmStatus::Success,
            1 => AcmStatus::NoMemory,
            2 => AcmStatus::Invalid,
            3 => AcmStatus::NoData,
            5 => AcmStatus::NotConnected,
            6 => AcmStatus::TimedOut,
            7 => AcmStatus::SourceAddress,
            8 => AcmStatus::SourceType,
            9 => AcmStatus::DestAddress,
            10 => AcmStatus::DestType,
            v => AcmStatus::Other(v),
        }
    }

    /// The `acm.h` name.
    pub const fn name(self) -> &'static str {
        match self {
            AcmStatus::Success => "ACM_STATUS_SUCCESS",
            AcmStatus::NoMemory => "ACM_STATUS_ENOMEM",
            AcmStatus::Invalid => "ACM_STATUS_EINVAL",
            AcmStatus::NoData => "ACM_STATUS_ENODATA",
            AcmStatus::NotConnected => "ACM_STATUS_ENOTCONN",
            AcmStatus::TimedOut => "ACM_STATUS_ETIMEDOUT",
            AcmStatus::SourceAddress => "ACM_STATUS_ESRCADDR",
            AcmStatus::SourceType => "ACM_STATUS_ESRCTYPE",
            AcmStatus::DestAddress => "ACM_STATUS_EDESTADDR",
            AcmStatus::DestType => "ACM_STATUS_EDESTTYPE",
            AcmStatus::Other(_) => "unknown status",
        }
    }
}

impl fmt::Display for AcmStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.raw())
    }
}

/// The three operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `ACM_OP_RESOLVE`: address or path to PathRecord(s).
    Resolve,
    /// `ACM_OP_PERF_QUERY`: the counters.
    PerfQuery,
    /// `ACM_OP_EP_QUERY`: one local endpoint's configuration.
    EpQuery,
}

impl Operation {
    /// The opcode, without the ACK bit.
    pub const fn code(self) -> u8 {
        match self {
            Operation::Resolve => OP_RESOLVE,
            Operation::PerfQuery => OP_PERF_QUERY,
            Operation::EpQuery => OP_EP_QUERY,
        }
    }

    /// The operation of an opcode's low four bits (`ACM_OP_MASK`).
    pub const fn from_opcode(opcode: u8) -> Option<Operation> {
        match opcode & OP_MASK {
            OP_RESOLVE => Some(Operation::Resolve),
            OP_PERF_QUERY => Some(Operation::PerfQuery),
            OP_EP_QUERY => Some(Operation::EpQuery),
            _ => None,
        }
    }
}

/// Whether an opcode's `length` is in network order: everything but resolve. ibacm tests the
/// unmasked opcode against `ACM_OP_RESOLVE` on requests (`acm_msg_length`) and clients read
/// resolve answers (0x81) in host order, so the rule is on the masked operation.
const fn length_is_network_order(opcode: u8) -> bool {
    opcode & OP_MASK != OP_RESOLVE
}

/// `struct acm_hdr` as laid out on the wire. `length` is kept as bytes because its byte order
/// depends on `opcode`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeader {
    version: u8,
    opcode: u8,
    status: u8,
    data: [u8; 3],
    length: [u8; 2],
    tid: native_endian::U64,
}

/// `struct acm_ep_addr_data` as laid out on the wire (host-order `flags` and `type`).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawEpAddr {
    flags: native_endian::U32,
    ep_type: native_endian::U16,
    reserved: native_endian::U16,
    info: [u8; MAX_ADDRESS],
}

/// `struct acm_ep_config_data` without its trailing address array; network order.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawEpConfig {
    dev_guid: big_endian::U64,
    port_num: u8,
    phys_port_cnt: u8,
    rsvd: [u8; 2],
    pkey: big_endian::U16,
    addr_cnt: big_endian::U16,
    prov_name: [u8; MAX_PROV_NAME],
}

const _: () = assert!(size_of::<RawHeader>() == HDR_LEN);
const _: () = assert!(size_of::<RawEpAddr>() == EP_LEN);
const _: () = assert!(size_of::<RawEpConfig>() == EP_CONFIG_LEN);

/// `struct acm_hdr`, decoded: every field as on the wire, `length` in the byte order its
/// opcode implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AcmHeader {
    /// `ACM_VERSION`.
    pub version: u8,
    /// Operation, plus [`OP_ACK`] in answers.
    pub opcode: u8,
    /// An [`AcmStatus`] byte; 0 in requests.
    pub status: u8,
    /// `data[3]`, alias `src_out`, `src_index`, `dst_index`. Requests use them as arguments
    /// (perf: `[1]` = endpoint index; ep query: `[0]` = index, `[1]` = port); answers as
    /// results (perf: `[0]` = counter count).
    pub data: [u8; 3],
    /// Bytes in the whole message, header included.
    pub length: u16,
    /// Transaction ID, echoed.
    pub tid: u64,
}

impl AcmHeader {
    /// Reads the header at the start of `bytes`, or `None` if there are fewer than 16.
    pub fn parse(bytes: &[u8]) -> Option<AcmHeader> {
        let (raw, _) = RawHeader::ref_from_prefix(bytes).ok()?;
        let length = if length_is_network_order(raw.opcode) {
            u16::from_be_bytes(raw.length)
        } else {
            u16::from_ne_bytes(raw.length)
        };
        Some(AcmHeader {
            version: raw.version,
            opcode: raw.opcode,
            status: raw.status,
            data: raw.data,
            length,
            tid: raw.tid.get(),
        })
    }

    /// The header's 16 bytes.
    pub fn to_bytes(&self) -> [u8; HDR_LEN] {
        let length = if length_is_network_order(self.opcode) {
            self.length.to_be_bytes()
        } else {
            self.length.to_ne_bytes()
        };
        let raw = RawHeader {
            version: self.version,
            opcode: self.opcode,
            status: self.status,
            data: self.data,
            length,
            tid: native_endian::U64::new(self.tid),
        };
        let mut out = [0u8; HDR_LEN];
        out.copy_from_slice(raw.as_bytes());
        out
    }

    /// The operation of `opcode`, ignoring the ACK bit.
    pub const fn operation(&self) -> Option<Operation> {
        Operation::from_opcode(self.opcode)
    }

    /// Whether this is an answer.
    pub const fn is_ack(&self) -> bool {
        self.opcode & OP_ACK != 0
    }

    /// `status` as an [`AcmStatus`].
    pub const fn acm_status(&self) -> AcmStatus {
        AcmStatus::from_raw(self.status)
    }
}

/// A source or destination: the `info` union of `acm_ep_addr_data` with its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `ACM_EP_INFO_NAME`. ibacm compares names case-insensitively over 64 bytes.
    Name(String),
    /// `ACM_EP_INFO_ADDRESS_IP`.
    Ipv4(Ipv4Addr),
    /// `ACM_EP_INFO_ADDRESS_IP6`.
    Ipv6(Ipv6Addr),
    /// `ACM_ADDRESS_GID` (see [`EP_INFO_ADDRESS_GID`]).
    Gid(Gid),
    /// `ACM_ADDRESS_LID` (see [`EP_INFO_ADDRESS_LID`]).
    Lid(u16),
    /// `ACM_EP_INFO_PATH`.
    Path(PathRecordRepr),
}

impl Endpoint {
    /// The `type` code.
    pub const fn ep_type(&self) -> u16 {
        match self {
            Endpoint::Name(_) => EP_INFO_NAME,
            Endpoint::Ipv4(_) => EP_INFO_ADDRESS_IP,
            Endpoint::Ipv6(_) => EP_INFO_ADDRESS_IP6,
            Endpoint::Gid(_) => EP_INFO_ADDRESS_GID,
            Endpoint::Lid(_) => EP_INFO_ADDRESS_LID,
            Endpoint::Path(_) => EP_INFO_PATH,
        }
    }

    /// Decodes `info` as `ep_type`. Bytes past the address are ignored, as ibacm ignores them.
    pub fn decode(ep_type: u16, info: &[u8; MAX_ADDRESS]) -> Result<Endpoint, EndpointError> {
        match ep_type {
            EP_INFO_NAME => {
                let end = info.iter().position(|&b| b == 0).unwrap_or(MAX_ADDRESS);
                if end == 0 {
                    return Err(EndpointError::EmptyName);
                }
                let name = std::str::from_utf8(&info[..end]).map_err(|_| EndpointError::NameNotUtf8)?;
                Ok(Endpoint::Name(name.to_owned()))
            }
            EP_INFO_ADDRESS_IP => Ok(Endpoint::Ipv4(Ipv4Addr::new(info[0], info[1], info[2], info[3]))),
            EP_INFO_ADDRESS_IP6 => Ok(Endpoint::Ipv6(Ipv6Addr::from(first16(info)))),
            EP_INFO_ADDRESS_GID => Ok(Endpoint::Gid(Gid(first16(info)))),
            EP_INFO_ADDRESS_LID => Ok(Endpoint::Lid(u16::from_be_bytes([info[0], info[1]]))),
            EP_INFO_PATH => PathRecordRepr::decode(info).map(Endpoint::Path).map_err(EndpointError::Path),
            other => Err(EndpointError::UnknownType(other)),
        }
    }

    /// Encodes into a zeroed 64-byte `info`.
    pub fn encode(&self) -> Result<[u8; MAX_ADDRESS], EncodeError> {
        let mut info = [0u8; MAX_ADDRESS];
        match self {
            Endpoint::Name(name) => {
                // libacm refuses names that leave no room for the NUL (`check_snprintf`), and
                // peers print them with `%s`: at most 63 bytes, no NUL inside.
                let b = name.as_bytes();
                if b.is_empty() || b.len() >= MAX_ADDRESS || b.contains(&0) {
                    return Err(EncodeError::BadName { len: b.len() });
                }
                info[..b.len()].copy_from_slice(b);
            }
            Endpoint::Ipv4(a) => info[..4].copy_from_slice(&a.octets()),
            Endpoint::Ipv6(a) => info[..16].copy_from_slice(&a.octets()),
            Endpoint::Gid(g) => info[..16].copy_from_slice(&g.0),
            Endpoint::Lid(l) => info[..2].copy_from_slice(&l.to_be_bytes()),
            Endpoint::Path(p) => {
                p.encode(&mut info).map_err(EncodeError::Path)?;
            }
        }
        Ok(info)
    }
}

fn first16(info: &[u8; MAX_ADDRESS]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&info[..16]);
    a
}

impl fmt::Display for Endpoint {
    /// The text ibacm logs for an address (`acm_format_name`) and `ib_acme` prints for a
    /// source: the name, the address, `LID(n)`, or for a path `SLID(s) DLID(d)` / the DGID.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Name(n) => f.write_str(n),
            Endpoint::Ipv4(a) => write!(f, "{a}"),
            Endpoint::Ipv6(a) => write!(f, "{a}"),
            Endpoint::Gid(g) => write!(f, "{g}"),
            Endpoint::Lid(l) => write!(f, "LID({l})"),
            Endpoint::Path(p) if p.dlid != 0 => write!(f, "SLID({}) DLID({})", p.slid, p.dlid),
            Endpoint::Path(p) => write!(f, "{}", p.dgid),
        }
    }
}

/// Why an entry's `info` could not be read as its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointError {
    /// A `type` that is none of the address types.
    UnknownType(u16),
    /// A name whose first byte is NUL.
    EmptyName,
    /// A name that is not UTF-8 (host names are ASCII).
    NameNotUtf8,
    /// A PathRecord the core codec refused (cannot happen for 64 bytes; kept for totality).
    Path(wire::Error),
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::UnknownType(t) => write!(f, "unknown address type {t:#06x}"),
            EndpointError::EmptyName => f.write_str("empty name"),
            EndpointError::NameNotUtf8 => f.write_str("name is not UTF-8"),
            EndpointError::Path(e) => write!(f, "path record: {e}"),
        }
    }
}

impl std::error::Error for EndpointError {}

/// How a resolve request names its ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolveForm {
    /// The first entry is a PathRecord template (`ib_acme -f g`, `-f l`, `-v`; librdmacm with
    /// AF_IB addresses): the destination is its DLID, or its DGID when the DLID is 0, the
    /// source its SGID or SLID. This is ibacm's `acm_svr_resolve_path`/`acm_svr_query_path`.
    Path,
    /// Entries flagged `SOURCE` and `DEST` (`ib_acme -f n`, `-f i`; librdmacm
    /// `rdma_getaddrinfo`). ibacm's `acm_svr_resolve_dest`.
    Address,
}

/// `ACM_OP_RESOLVE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolveRequest {
    /// Transaction ID, to echo.
    pub tid: u64,
    /// Path or address form.
    pub form: ResolveForm,
    /// The options ([`EpFlags::NODELAY`], [`EpFlags::QUERY_SA`]) of the destination entry
    /// (address form) or of the path entry (path form); role bits are removed.
    pub flags: EpFlags,
    /// The source, if the client named one. Without it, ibacm picks the local address the
    /// kernel would route from (IP destinations only) and returns it as an extra entry.
    pub src: Option<Endpoint>,
    /// The destination: `Lid` or `Gid` in the path form; `Name`, `Ipv4`, `Ipv6`, `Gid` or
    /// `Lid` in the address form.
    pub dst: Endpoint,
    /// The PathRecord: the template of the path form (always present there), or the optional
    /// hint librdmacm appends, unflagged, after the address entries (`hints->ai_route`).
    pub path_hint: Option<PathRecordRepr>,
}

impl ResolveRequest {
    /// A path-form request (what `ib_acme -f g`/`-f l` sends), with `src`/`dst` derived from
    /// `path` exactly as [`decode_request`] derives them.
    pub fn path(tid: u64, flags: EpFlags, path: PathRecordRepr) -> ResolveRequest {
        let (src, dst) = path_ends(&path);
        ResolveRequest {
            tid,
            form: ResolveForm::Path,
            flags: flags & EpFlags::OPTIONS,
            src,
            dst,
            path_hint: Some(path),
        }
    }

    /// An address-form request (what `ib_acme -f n`/`-f i` sends).
    pub fn address(tid: u64, flags: EpFlags, src: Option<Endpoint>, dst: Endpoint) -> ResolveRequest {
        ResolveRequest {
            tid,
            form: ResolveForm::Address,
            flags: flags & EpFlags::OPTIONS,
            src,
            dst,
            path_hint: None,
        }
    }

    /// `ACM_FLAGS_NODELAY`.
    pub fn nodelay(&self) -> bool {
        self.flags.contains(EpFlags::NODELAY)
    }

    /// `ACM_FLAGS_QUERY_SA` on a path-form request (ibacm ignores it elsewhere).
    pub fn query_sa(&self) -> bool {
        self.form == ResolveForm::Path && self.flags.contains(EpFlags::QUERY_SA)
    }
}

/// The ends a path template names: source SGID (else SLID, else none), destination DLID
/// (else DGID). LID first for the destination, as ibacm's `acmp_resolve_path`.
fn path_ends(path: &PathRecordRepr) -> (Option<Endpoint>, Endpoint) {
    let src = if !path.sgid.is_zero() {
        Some(Endpoint::Gid(path.sgid))
    } else if path.slid != 0 {
        Some(Endpoint::Lid(path.slid))
    } else {
        None
    };
    let dst = if path.dlid != 0 { Endpoint::Lid(path.dlid) } else { Endpoint::Gid(path.dgid) };
    (src, dst)
}

/// Which counters a perf query asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PerfTarget {
    /// The daemon-wide counters (`ib_acme -P`, `-P col`).
    All,
    /// Endpoint N, counting from 1 (`ib_acme -P N`, and `-P all`, which asks 1, 2, ... until
    /// an error). ibacm also uses N as a port filter (`acm_get_ep(N - 1, N)`), so its N-th
    /// endpoint is the N-th one of port N; that is an ibacm bug, not protocol.
    Index(u8),
    /// The endpoint owning this address (`ib_acme -P s -s ADDR`).
    Address(Endpoint),
}

/// `ACM_OP_PERF_QUERY`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PerfQuery {
    /// Transaction ID, to echo.
    pub tid: u64,
    /// What to count.
    pub target: PerfTarget,
}

/// `ACM_OP_EP_QUERY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpQuery {
    /// Transaction ID, to echo.
    pub tid: u64,
    /// Endpoint index, from 1, among the endpoints of `port` (`hdr.src_out`).
    pub index: u8,
    /// Port number, or 0 for all ports (`hdr.src_index`). `ib_acme -e` asks every port from 1
    /// to the `phys_port_cnt` of the first answer (255 until one arrives).
    pub port: u8,
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AcmRequest {
    /// Resolve.
    Resolve(ResolveRequest),
    /// Perf query.
    PerfQuery(PerfQuery),
    /// Endpoint query.
    EpQuery(EpQuery),
}

impl AcmRequest {
    /// Transaction ID, to echo.
    pub fn tid(&self) -> u64 {
        match self {
            AcmRequest::Resolve(r) => r.tid,
            AcmRequest::PerfQuery(p) => p.tid,
            AcmRequest::EpQuery(e) => e.tid,
        }
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        match self {
            AcmRequest::Resolve(_) => Operation::Resolve,
            AcmRequest::PerfQuery(_) => Operation::PerfQuery,
            AcmRequest::EpQuery(_) => Operation::EpQuery,
        }
    }

    /// The request's bytes, laid out as libacm/librdmacm lay them out (entries in the order
    /// source, destination, path hint; unused `info` bytes zero).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut hdr = AcmHeader {
            version: ACM_VERSION,
            opcode: self.operation().code(),
            tid: self.tid(),
            ..Default::default()
        };
        let mut body = Vec::new();
        match self {
            AcmRequest::Resolve(r) => match r.form {
                ResolveForm::Path => {
                    let path = r.path_hint.ok_or(EncodeError::PathFormWithoutPath)?;
                    push_entry(&mut body, r.flags & EpFlags::OPTIONS, &Endpoint::Path(path))?;
                }
                ResolveForm::Address => {
                    if let Some(src) = &r.src {
                        push_entry(&mut body, EpFlags::SOURCE, src)?;
                    }
                    push_entry(&mut body, EpFlags::DEST | (r.flags & EpFlags::OPTIONS), &r.dst)?;
                    if let Some(hint) = r.path_hint {
                        push_entry(&mut body, EpFlags::empty(), &Endpoint::Path(hint))?;
                    }
                }
            },
            AcmRequest::PerfQuery(p) => match &p.target {
                PerfTarget::All => {}
                PerfTarget::Index(0) => return Err(EncodeError::IndexZero),
                PerfTarget::Index(n) => hdr.data[1] = *n,
                PerfTarget::Address(ep) => push_entry(&mut body, EpFlags::SOURCE, ep)?,
            },
            AcmRequest::EpQuery(e) => {
                if e.index == 0 {
                    return Err(EncodeError::IndexZero);
                }
                hdr.data = [e.index, e.port, 0];
            }
        }
        finish(hdr, body)
    }
}

fn push_entry(body: &mut Vec<u8>, flags: EpFlags, ep: &Endpoint) -> Result<(), EncodeError> {
    push_raw_entry(body, flags.bits(), ep)
}

fn push_raw_entry(body: &mut Vec<u8>, flags: u32, ep: &Endpoint) -> Result<(), EncodeError> {
    let raw = RawEpAddr {
        flags: native_endian::U32::new(flags),
        ep_type: native_endian::U16::new(ep.ep_type()),
        reserved: native_endian::U16::new(0),
        info: ep.encode()?,
    };
    body.extend_from_slice(raw.as_bytes());
    Ok(())
}

/// Prepends the header with the final length, checking it against the limit of the opcode.
fn finish(mut hdr: AcmHeader, body: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
    let len = HDR_LEN + body.len();
    let max =
        if hdr.operation() == Some(Operation::EpQuery) && hdr.is_ack() { RESPONSE_MAX } else { MSG_MAX };
    if len > max {
        return Err(EncodeError::TooLong { len, max });
    }
    hdr.length = len as u16;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&hdr.to_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// A name that is empty, has a NUL, or is longer than 63 bytes (`len`).
    BadName {
        /// Its length in bytes.
        len: usize,
    },
    /// A PathRecord field wider than its field.
    Path(wire::Error),
    /// A path-form resolve without its PathRecord.
    PathFormWithoutPath,
    /// Endpoint index 0: indices count from 1.
    IndexZero,
    /// The message would exceed what the peer reads.
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A provider name longer than 63 bytes.
    ProviderNameTooLong,
    /// An endpoint address string longer than 63 bytes.
    AddressTooLong,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BadName { len } => {
                write!(f, "name of {len} bytes: names are 1 to 63 bytes without NUL")
            }
            EncodeError::Path(e) => write!(f, "path record: {e}"),
            EncodeError::PathFormWithoutPath => f.write_str("path-form resolve without a path record"),
            EncodeError::IndexZero => f.write_str("endpoint index 0: indices count from 1"),
            EncodeError::TooLong { len, max } => write!(f, "message of {len} bytes exceeds {max}"),
            EncodeError::ProviderNameTooLong => f.write_str("provider name longer than 63 bytes"),
            EncodeError::AddressTooLong => f.write_str("endpoint address longer than 63 bytes"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// The outcome of [`decode_request`] on a stream buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per message, moved out at once: boxing would only add an allocation
pub enum Decoded {
    /// The buffer holds a prefix of a message: read until it holds `total` bytes (at most
    /// [`MSG_MAX`]) and call again.
    NeedMore {
        /// Bytes the message (or, before the header is complete, the header) needs.
        total: usize,
    },
    /// A request, and the bytes it used: drop them from the buffer.
    Complete {
        /// The request.
        request: AcmRequest,
        /// Its length (the header's `length`), never more than the input.
        consumed: usize,
    },
}

/// Why a framed request is refused with a status; each maps to the status ibacm returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// No entry is flagged `DEST` (or there are no entries). `EDESTTYPE`, as ibacm's
    /// `acm_svr_verify_resolve`.
    NoDestination,
    /// Two entries flagged `SOURCE`. `ESRCADDR`.
    MultipleSources,
    /// Two entries flagged `DEST`. `EDESTADDR`.
    MultipleDestinations,
    /// A `SOURCE` entry of type 0 or at least `ACM_ADDRESS_RESERVED` (a PathRecord included).
    /// `ESRCTYPE`.
    SourceType(u16),
    /// A `DEST` entry of such a type. `EDESTTYPE`.
    DestinationType(u16),
    /// A source name that is empty or not UTF-8. `ESRCADDR` (ibacm would not find it).
    SourceAddress(EndpointError),
    /// A destination name that is empty or not UTF-8. `EDESTADDR`.
    DestinationAddress(EndpointError),
    /// A path template with neither DLID nor DGID. `EDESTADDR`, as `acm_svr_resolve_path`.
    PathWithoutDestination,
    /// A `QUERY_SA` request whose length is not exactly one entry. `EINVAL`, as
    /// `acm_svr_query_path`.
    QuerySaLength(u16),
    /// A perf query for an address that cannot be read. `ESRCADDR` (ibacm would not find it).
    PerfAddress(EndpointError),
    /// An endpoint query for index 0. `EINVAL` (ibacm finds no endpoint -1).
    EpIndexZero,
}

impl Reject {
    /// The status ibacm answers with.
    pub const fn status(&self) -> AcmStatus {
        match self {
            Reject::NoDestination | Reject::DestinationType(_) => AcmStatus::DestType,
            Reject::MultipleSources | Reject::SourceAddress(_) | Reject::PerfAddress(_) => {
                AcmStatus::SourceAddress
            }
            Reject::MultipleDestinations | Reject::DestinationAddress(_) | Reject::PathWithoutDestination => {
                AcmStatus::DestAddress
            }
            Reject::SourceType(_) => AcmStatus::SourceType,
            Reject::QuerySaLength(_) | Reject::EpIndexZero => AcmStatus::Invalid,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::NoDestination => f.write_str("no destination entry"),
            Reject::MultipleSources => f.write_str("more than one source entry"),
            Reject::MultipleDestinations => f.write_str("more than one destination entry"),
            Reject::SourceType(t) => write!(f, "unsupported source address type {t:#06x}"),
            Reject::DestinationType(t) => write!(f, "unsupported destination address type {t:#06x}"),
            Reject::SourceAddress(e) => write!(f, "bad source address: {e}"),
            Reject::DestinationAddress(e) => write!(f, "bad destination address: {e}"),
            Reject::PathWithoutDestination => {
                f.write_str("path record names no destination (DLID and DGID 0)")
            }
            Reject::QuerySaLength(l) => {
                write!(f, "QUERY_SA request of {l} bytes, expected {}", HDR_LEN + EP_LEN)
            }
            Reject::PerfAddress(e) => write!(f, "bad perf query address: {e}"),
            Reject::EpIndexZero => f.write_str("endpoint index 0"),
        }
    }
}

/// What the server should do about an [`AcmError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Close the connection without answering: the stream cannot be re-synchronised, or ibacm
    /// drops such clients too.
    Disconnect,
    /// Drop `consumed` bytes and send [`AcmError::error_response`] (header only, `status`).
    Answer {
        /// The status to answer with.
        status: AcmStatus,
        /// Bytes to drop.
        consumed: usize,
    },
}

/// Why [`decode_request`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmError {
    /// `version` is not 1. ibacm logs and disconnects.
    BadVersion(u8),
    /// An opcode other than 0x01, 0x02, 0x03 (an ACK bit included). ibacm disconnects on
    /// unknown operations; it masks the opcode first, we do not (no client sets other bits).
    UnknownOpcode(u8),
    /// `length` below the header's 16 bytes: framing is lost.
    LengthTooShort(u16),
    /// `length` above [`MSG_MAX`]: ibacm's one `recv` cannot return it and it disconnects.
    LengthTooLong(u16),
    /// A well-framed request refused with a status.
    Rejected {
        /// The request's header (for the answer's opcode and tid).
        header: AcmHeader,
        /// The request's length.
        consumed: usize,
        /// Why.
        reason: Reject,
    },
}

impl AcmError {
    /// Whether to answer or disconnect.
    pub const fn action(&self) -> ErrorAction {
        match self {
            AcmError::Rejected { consumed, reason, .. } => {
                ErrorAction::Answer { status: reason.status(), consumed: *consumed }
            }
            _ => ErrorAction::Disconnect,
        }
    }

    /// The answer to send, for a rejected request.
    pub fn error_response(&self) -> Option<[u8; HDR_LEN]> {
        match self {
            AcmError::Rejected { header, reason, .. } => Some(error_response(header, reason.status())),
            _ => None,
        }
    }
}

impl fmt::Display for AcmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcmError::BadVersion(v) => write!(f, "ACM version {v}, expected {ACM_VERSION}"),
            AcmError::UnknownOpcode(o) => write!(f, "unknown ACM opcode {o:#04x}"),
            AcmError::LengthTooShort(l) => {
                write!(f, "ACM length {l} is shorter than the {HDR_LEN}-byte header")
            }
            AcmError::LengthTooLong(l) => write!(f, "ACM length {l} exceeds {MSG_MAX}"),
            AcmError::Rejected { reason, .. } => write!(f, "{reason} ({})", reason.status()),
        }
    }
}

impl std::error::Error for AcmError {}

/// Decodes the request at the start of a stream buffer.
///
/// Total: any bytes give `NeedMore`, `Complete` (with `consumed <= bytes.len()`) or an error;
/// nothing panics, and the only allocations are the source and destination names (64 bytes
/// at most each).
/// Garbage is refused as early as the first two bytes (version, opcode), so a server never
/// waits for a header that will not make sense. Bytes after `length` are not looked at: they
/// are the next request.
pub fn decode_request(bytes: &[u8]) -> Result<Decoded, AcmError> {
    if let Some(&v) = bytes.first() {
        if v != ACM_VERSION {
            return Err(AcmError::BadVersion(v));
        }
    }
    if let Some(&op) = bytes.get(1) {
        if !matches!(op, OP_RESOLVE | OP_PERF_QUERY | OP_EP_QUERY) {
            return Err(AcmError::UnknownOpcode(op));
        }
    }
    let Some(header) = AcmHeader::parse(bytes) else {
        return Ok(Decoded::NeedMore { total: HDR_LEN });
    };
    let length = header.length as usize;
    if length < HDR_LEN {
        return Err(AcmError::LengthTooShort(header.length));
    }
    if length > MSG_MAX {
        return Err(AcmError::LengthTooLong(header.length));
    }
    if bytes.len() < length {
        return Ok(Decoded::NeedMore { total: length });
    }
    let msg = &bytes[..length];
    let reject = |reason| AcmError::Rejected { header, consumed: length, reason };
    let request = match header.opcode {
        OP_RESOLVE => AcmRequest::Resolve(decode_resolve(&header, msg).map_err(reject)?),
        OP_PERF_QUERY => AcmRequest::PerfQuery(decode_perf(&header, msg).map_err(reject)?),
        _ => {
            let (index, port) = (header.data[0], header.data[1]);
            if index == 0 {
                return Err(reject(Reject::EpIndexZero));
            }
            AcmRequest::EpQuery(EpQuery { tid: header.tid, index, port })
        }
    };
    Ok(Decoded::Complete { request, consumed: length })
}

/// The whole entries of a message (`(length - 16) / 72`, at most eight); a partial trailing
/// entry is ignored, as ibacm ignores it.
fn entries(msg: &[u8]) -> impl Iterator<Item = &RawEpAddr> {
    msg[HDR_LEN..].chunks_exact(EP_LEN).filter_map(|c| RawEpAddr::ref_from_bytes(c).ok())
}

fn decode_resolve(header: &AcmHeader, msg: &[u8]) -> Result<ResolveRequest, Reject> {
    let tid = header.tid;
    let first = entries(msg).next();
    // ibacm picks the form from the first entry's type alone (`acm_svr_resolve`).
    if let Some(e) = first.filter(|e| e.ep_type.get() == EP_INFO_PATH) {
        let flags = EpFlags::from_bits_retain(e.flags.get());
        if flags.contains(EpFlags::QUERY_SA) && msg.len() != HDR_LEN + EP_LEN {
            return Err(Reject::QuerySaLength(header.length));
        }
        let path = PathRecordRepr::decode(&e.info)
            .map_err(|e| Reject::DestinationAddress(EndpointError::Path(e)))?;
        if path.dlid == 0 && path.dgid.is_zero() {
            // ibacm checks this only without QUERY_SA; with it, it would ask the SA for a
            // wildcard and forward whatever status byte came back. We refuse both alike.
            return Err(Reject::PathWithoutDestination);
        }
        return Ok(ResolveRequest::path(tid, flags, path));
    }

    // Address form: `acm_svr_verify_resolve`, check for check in ibacm's order.
    let mut src: Option<&RawEpAddr> = None;
    let mut dst: Option<&RawEpAddr> = None;
    let mut hint = None;
    for e in entries(msg) {
        let flags = EpFlags::from_bits_retain(e.flags.get());
        let ty = e.ep_type.get();
        if flags.contains(EpFlags::SOURCE) {
            if src.is_some() {
                return Err(Reject::MultipleSources);
            }
            if ty == 0 || ty >= EP_INFO_ADDRESS_RESERVED {
                return Err(Reject::SourceType(ty));
            }
            src = Some(e);
        }
        if flags.contains(EpFlags::DEST) {
            if dst.is_some() {
                return Err(Reject::MultipleDestinations);
            }
            if ty == 0 || ty >= EP_INFO_ADDRESS_RESERVED {
                return Err(Reject::DestinationType(ty));
            }
            dst = Some(e);
        }
        // librdmacm's route hint: an unflagged PathRecord after the addresses. ibacm ignores
        // unflagged entries; we keep the first path among them.
        if !flags.intersects(EpFlags::SOURCE | EpFlags::DEST) && ty == EP_INFO_PATH && hint.is_none() {
            hint = PathRecordRepr::decode(&e.info).ok();
        }
    }
    let dst = dst.ok_or(Reject::NoDestination)?;
    let dst_ep = Endpoint::decode(dst.ep_type.get(), &dst.info).map_err(Reject::DestinationAddress)?;
    let src_ep = match src {
        Some(s) => Some(Endpoint::decode(s.ep_type.get(), &s.info).map_err(Reject::SourceAddress)?),
        None => None,
    };
    let flags = EpFlags::from_bits_retain(dst.flags.get()) & EpFlags::OPTIONS;
    let mut req = ResolveRequest::address(tid, flags, src_ep, dst_ep);
    req.path_hint = hint;
    Ok(req)
}

/// `acm_svr_perf_query`'s choice: with an entry and no `SOURCE` flag, or without an entry
/// and index 0, everything; else by index if there is one, else by the entry's address.
fn decode_perf(header: &AcmHeader, msg: &[u8]) -> Result<PerfQuery, Reject> {
    let index = header.data[1];
    let target = match entries(msg).next() {
        None if index == 0 => PerfTarget::All,
        None => PerfTarget::Index(index),
        Some(e) if !EpFlags::from_bits_retain(e.flags.get()).contains(EpFlags::SOURCE) => PerfTarget::All,
        Some(_) if index != 0 => PerfTarget::Index(index),
        Some(e) => {
            PerfTarget::Address(Endpoint::decode(e.ep_type.get(), &e.info).map_err(Reject::PerfAddress)?)
        }
    };
    Ok(PerfQuery { tid: header.tid, target })
}

/// A header-only error answer to `request`: opcode with the ACK bit, `status`, `data` zeroed,
/// tid echoed, `length` 16 in the opcode's byte order. (ibacm echoes the whole request on a
/// refused `QUERY_SA`; clients read only the status either way.)
pub fn error_response(request: &AcmHeader, status: AcmStatus) -> [u8; HDR_LEN] {
    AcmHeader {
        version: ACM_VERSION,
        opcode: request.opcode | OP_ACK,
        status: status.raw(),
        data: [0; 3],
        length: HDR_LEN as u16,
        tid: request.tid,
    }
    .to_bytes()
}

/// One PathRecord of a resolve answer: an `ibv_path_data` (flags, reserved, path) in the
/// shape of an `acm_ep_addr_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PathData {
    /// `IBV_PATH_FLAG_*`.
    pub flags: PathFlags,
    /// The path, encoded in network order by the core codec.
    pub path: PathRecordRepr,
}

impl PathData {
    /// A primary bidirectional path, as ibacm returns it.
    pub const fn primary(path: PathRecordRepr) -> PathData {
        PathData { flags: PathFlags::PRIMARY_BIDIRECTIONAL, path }
    }
}

/// An entry of a resolve answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResolveEntry {
    /// A PathRecord (type `ACM_EP_INFO_PATH`).
    Path(PathData),
    /// An address, in practice the source ibacm chose (flag `SOURCE`), which `ib_acme`
    /// prints as `Source: ...` and librdmacm uses as the source address.
    Address {
        /// Its flags.
        flags: EpFlags,
        /// The address.
        endpoint: Endpoint,
    },
}

/// The 7 counters of a perf answer, in `ACM_CNTR_*` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PerfCounters {
    /// `ACM_CNTR_ERROR`: requests answered with an error other than `ENODATA`.
    pub error: u64,
    /// `ACM_CNTR_RESOLVE`: resolve requests.
    pub resolve: u64,
    /// `ACM_CNTR_NODATA`: requests answered `ENODATA`.
    pub no_data: u64,
    /// `ACM_CNTR_ADDR_QUERY`: address resolutions sent to the fabric.
    pub addr_query: u64,
    /// `ACM_CNTR_ADDR_CACHE`: address resolutions answered from the cache.
    pub addr_cache: u64,
    /// `ACM_CNTR_ROUTE_QUERY`: PathRecord queries sent to the SA.
    pub route_query: u64,
    /// `ACM_CNTR_ROUTE_CACHE`: paths answered from the cache.
    pub route_cache: u64,
}

impl PerfCounters {
    /// The names `ib_acme` prints (`ib_acm_cntr_name`), in order.
    pub const NAMES: [&'static str; MAX_COUNTER] = [
        "Error Count",
        "Resolve Count",
        "No Data",
        "Addr Query Count",
        "Addr Cache Count",
        "Route Query Count",
        "Route Cache Count",
    ];

    /// The counters in wire order.
    pub const fn to_array(&self) -> [u64; MAX_COUNTER] {
        [
            self.error,
            self.resolve,
            self.no_data,
            self.addr_query,
            self.addr_cache,
            self.route_query,
            self.route_cache,
        ]
    }

    /// The counters from wire order.
    pub const fn from_array(a: [u64; MAX_COUNTER]) -> PerfCounters {
        PerfCounters {
            error: a[0],
            resolve: a[1],
            no_data: a[2],
            addr_query: a[3],
            addr_cache: a[4],
            route_query: a[5],
            route_cache: a[6],
        }
    }
}

/// One endpoint's configuration, as an endpoint query answers it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct EpConfig {
    /// The HCA's node GUID.
    pub dev_guid: u64,
    /// Port number.
    pub port_num: u8,
    /// Ports of the HCA; `ib_acme -e` asks ports 1 to this.
    pub phys_port_cnt: u8,
    /// The endpoint's P_Key.
    pub pkey: u16,
    /// Provider name (ibacm: `ibacmp`), at most 63 bytes.
    pub prov_name: String,
    /// The endpoint's names and addresses as text (host names, dotted IPv4, IPv6), each at
    /// most 63 bytes. ibacm sends each address's `string_buf`.
    pub addrs: Vec<String>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AcmResponse {
    /// A successful resolve: PathRecords, and the chosen source when the request had none.
    Resolve {
        /// Echoed tid.
        tid: u64,
        /// The entries, in order.
        entries: Vec<ResolveEntry>,
    },
    /// Counters.
    Perf {
        /// Echoed tid.
        tid: u64,
        /// The endpoint index the request asked (`hdr.src_index`, echoed as ibacm leaves it).
        index: u8,
        /// The counters; ibacm always sends [`MAX_COUNTER`] of them.
        counters: Vec<u64>,
    },
    /// An endpoint.
    Ep {
        /// Echoed tid.
        tid: u64,
        /// The endpoint index the request asked (`hdr.src_out`, echoed as ibacm leaves it).
        index: u8,
        /// The endpoint.
        config: EpConfig,
    },
    /// An error answer: header only.
    Error {
        /// The operation answered.
        op: Operation,
        /// Echoed tid.
        tid: u64,
        /// Not `Success`.
        status: AcmStatus,
    },
}

impl AcmResponse {
    /// A successful resolve answer with these paths and, if the server chose the source,
    /// that source entry (flag `SOURCE`) after them, as ibacm's `acmp_resolve_response`.
    pub fn resolve(tid: u64, paths: &[PathData], chosen_source: Option<Endpoint>) -> AcmResponse {
        let mut entries: Vec<ResolveEntry> = paths.iter().copied().map(ResolveEntry::Path).collect();
        if let Some(endpoint) = chosen_source {
            entries.push(ResolveEntry::Address { flags: EpFlags::SOURCE, endpoint });
        }
        AcmResponse::Resolve { tid, entries }
    }

    /// A perf answer with the 7 counters.
    pub fn perf(tid: u64, index: u8, counters: &PerfCounters) -> AcmResponse {
        AcmResponse::Perf { tid, index, counters: counters.to_array().to_vec() }
    }

    /// The answer's bytes.
    ///
    /// Resolve: opcode 0x81, host-order length, `data` zero, entries as given (PathRecords in
    /// network order, flags and type in host order); at most 8 entries, as clients read into a
    /// 592-byte `struct acm_msg`. Perf: opcode 0x82, network order, `data[0]` = counter count,
    /// `data[1]` = index. Endpoint: opcode 0x83, network order, `data[0]` = index, then the
    /// 80-byte config and one 64-byte NUL-padded string per address.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let (op, tid) = match self {
            AcmResponse::Resolve { tid, .. } => (Operation::Resolve, *tid),
            AcmResponse::Perf { tid, .. } => (Operation::PerfQuery, *tid),
            AcmResponse::Ep { tid, .. } => (Operation::EpQuery, *tid),
            AcmResponse::Error { op, tid, .. } => (*op, *tid),
        };
        let mut hdr =
            AcmHeader { version: ACM_VERSION, opcode: op.code() | OP_ACK, tid, ..Default::default() };
        let mut body = Vec::new();
        match self {
            AcmResponse::Resolve { entries, .. } => {
                for e in entries {
                    match e {
                        ResolveEntry::Path(p) => {
                            push_raw_entry(&mut body, p.flags.bits(), &Endpoint::Path(p.path))?
                        }
                        ResolveEntry::Address { flags, endpoint } => push_entry(&mut body, *flags, endpoint)?,
                    }
                }
            }
            AcmResponse::Perf { index, counters, .. } => {
                // The length check comes first: it bounds the count to 72, so it fits data[0].
                let len = HDR_LEN + 8 * counters.len();
                if len > MSG_MAX {
                    return Err(EncodeError::TooLong { len, max: MSG_MAX });
                }
                hdr.data = [counters.len() as u8, *index, 0];
                for c in counters {
                    body.extend_from_slice(&c.to_be_bytes());
                }
            }
            AcmResponse::Ep { index, config, .. } => {
                // The length check comes first: it bounds the count to 1022, so it fits 16 bits.
                let len = HDR_LEN + EP_CONFIG_LEN + MAX_ADDRESS * config.addrs.len();
                if len > RESPONSE_MAX {
                    return Err(EncodeError::TooLong { len, max: RESPONSE_MAX });
                }
                hdr.data = [*index, 0, 0];
                let raw = RawEpConfig {
                    dev_guid: big_endian::U64::new(config.dev_guid),
                    port_num: config.port_num,
                    phys_port_cnt: config.phys_port_cnt,
                    rsvd: [0; 2],
                    pkey: big_endian::U16::new(config.pkey),
                    addr_cnt: big_endian::U16::new(config.addrs.len() as u16),
                    prov_name: padded(&config.prov_name).ok_or(EncodeError::ProviderNameTooLong)?,
                };
                body.reserve_exact(len - HDR_LEN);
                body.extend_from_slice(raw.as_bytes());
                for a in &config.addrs {
                    body.extend_from_slice(&padded(a).ok_or(EncodeError::AddressTooLong)?);
                }
            }
            AcmResponse::Error { status, .. } => hdr.status = status.raw(),
        }
        finish(hdr, body)
    }
}

/// `s` NUL-padded to 64 bytes, or `None` if it does not fit with its NUL.
fn padded(s: &str) -> Option<[u8; MAX_ADDRESS]> {
    let b = s.as_bytes();
    if b.len() >= MAX_ADDRESS {
        return None;
    }
    let mut out = [0u8; MAX_ADDRESS];
    out[..b.len()].copy_from_slice(b);
    Some(out)
}

/// The text before the first NUL of a fixed-size string field, lossily as UTF-8.
fn unpadded(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The outcome of [`decode_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodedResponse {
    /// Read until the buffer holds `total` bytes.
    NeedMore {
        /// Bytes needed.
        total: usize,
    },
    /// An answer and its length.
    Complete {
        /// The answer.
        response: AcmResponse,
        /// Its length.
        consumed: usize,
    },
}

/// Why an answer could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// `version` is not 1.
    BadVersion(u8),
    /// Not an answer to a known operation (ACK bit missing or unknown operation).
    NotAnAnswer(u8),
    /// `length` below 16.
    LengthTooShort(u16),
    /// `length` disagrees with the content: a body that is not whole entries, a perf count
    /// that is not what fits, an endpoint address count that is not what fits.
    BadLength(u16),
    /// An entry that cannot be read.
    Entry(EndpointError),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::BadVersion(v) => write!(f, "ACM version {v}, expected {ACM_VERSION}"),
            ResponseError::NotAnAnswer(o) => write!(f, "opcode {o:#04x} is not an ACM answer"),
            ResponseError::LengthTooShort(l) => write!(f, "ACM length {l} is shorter than the header"),
            ResponseError::BadLength(l) => write!(f, "ACM length {l} disagrees with the answer's content"),
            ResponseError::Entry(e) => write!(f, "answer entry: {e}"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// Decodes the answer at the start of a stream buffer (for tests and load generators).
/// Stricter than the clients, which trust `data[0]` and `addr_cnt` without checking them
/// against `length`: here they must agree.
pub fn decode_response(bytes: &[u8]) -> Result<DecodedResponse, ResponseError> {
    if let Some(&v) = bytes.first() {
        if v != ACM_VERSION {
            return Err(ResponseError::BadVersion(v));
        }
    }
    if let Some(&op) = bytes.get(1) {
        if op & OP_ACK == 0 || Operation::from_opcode(op).is_none() || op & 0x70 != 0 {
            return Err(ResponseError::NotAnAnswer(op));
        }
    }
    let Some(h) = AcmHeader::parse(bytes) else {
        return Ok(DecodedResponse::NeedMore { total: HDR_LEN });
    };
    let length = h.length as usize;
    if length < HDR_LEN {
        return Err(ResponseError::LengthTooShort(h.length));
    }
    if bytes.len() < length {
        return Ok(DecodedResponse::NeedMore { total: length });
    }
    let body = &bytes[HDR_LEN..length];
    let op = Operation::from_opcode(h.opcode).ok_or(ResponseError::NotAnAnswer(h.opcode))?;
    let bad_len = ResponseError::BadLength(h.length);
    let response = if h.status != 0 {
        AcmResponse::Error { op, tid: h.tid, status: h.acm_status() }
    } else {
        match op {
            Operation::Resolve => {
                if body.len() % EP_LEN != 0 {
                    return Err(bad_len);
                }
                let mut entries = Vec::with_capacity(body.len() / EP_LEN);
                for e in body.chunks_exact(EP_LEN).filter_map(|c| RawEpAddr::ref_from_bytes(c).ok()) {
                    let ty = e.ep_type.get();
                    let ep = Endpoint::decode(ty, &e.info).map_err(ResponseError::Entry)?;
                    entries.push(match ep {
                        Endpoint::Path(path) => ResolveEntry::Path(PathData {
                            flags: PathFlags::from_bits_retain(e.flags.get()),
                            path,
                        }),
                        endpoint => ResolveEntry::Address {
                            flags: EpFlags::from_bits_retain(e.flags.get()),
                            endpoint,
                        },
                    });
                }
                AcmResponse::Resolve { tid: h.tid, entries }
            }
            Operation::PerfQuery => {
                let count = h.data[0] as usize;
                if body.len() != 8 * count {
                    return Err(bad_len);
                }
                let counters = body
                    .chunks_exact(8)
                    .map(|c| u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect();
                AcmResponse::Perf { tid: h.tid, index: h.data[1], counters }
            }
            Operation::EpQuery => {
                let (raw, rest) = RawEpConfig::ref_from_prefix(body).map_err(|_| bad_len)?;
                let n = raw.addr_cnt.get() as usize;
                if rest.len() != n * MAX_ADDRESS {
                    return Err(bad_len);
                }
                let config = EpConfig {
                    dev_guid: raw.dev_guid.get(),
                    port_num: raw.port_num,
                    phys_port_cnt: raw.phys_port_cnt,
                    pkey: raw.pkey.get(),
                    prov_name: unpadded(&raw.prov_name),
                    addrs: rest.chunks_exact(MAX_ADDRESS).map(unpadded).collect(),
                };
                AcmResponse::Ep { tid: h.tid, index: h.data[0], config }
            }
        }
    };
    Ok(DecodedResponse::Complete { response, consumed: length })
}

#[cfg(test)]
mod tests {
    use super::*;
    use localsa_core::wire::{Mtu, PacketLifetime, Rate, Selector};
    use proptest::prelude::*;

    // ---- messages built by hand from acm.h, independently of the codec's layouts ----

    /// `struct acm_hdr` with a host-order length (resolve).
    fn hdr_host(opcode: u8, status: u8, data: [u8; 3], length: u16, tid: u64) -> Vec<u8> {
        let mut v = vec![1, opcode, status, data[0], data[1], data[2]];
        v.extend_from_slice(&length.to_ne_bytes());
        v.extend_from_slice(&tid.to_ne_bytes());
        v
    }

    /// `struct acm_hdr` with a network-order length (perf, ep query).
    fn hdr_net(opcode: u8, status: u8, data: [u8; 3], length: u16, tid: u64) -> Vec<u8> {
        let mut v = vec![1, opcode, status, data[0], data[1], data[2]];
        v.extend_from_slice(&length.to_be_bytes());
        v.extend_from_slice(&tid.to_ne_bytes());
        v
    }

    /// `struct acm_ep_addr_data`: host-order flags and type, zero reserved, `info` padded.
    fn entry(flags: u32, ty: u16, info: &[u8]) -> Vec<u8> {
        let mut v = flags.to_ne_bytes().to_vec();
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&[0, 0]);
        let mut i = [0u8; 64];
        i[..info.len()].copy_from_slice(info);
        v.extend_from_slice(&i);
        v
    }

    fn gid(n: u64) -> Gid {
        Gid::new(0xfe80_0000_0000_0000, 0x0002_c903_0000_0000 | n)
    }

    /// A PathRecord with a distinct value in every field.
    fn sample_path() -> PathRecordRepr {
        PathRecordRepr {
            service_id: 0x1122_3344_5566_7788,
            dgid: gid(2),
            sgid: gid(1),
            dlid: 0x0102,
            slid: 0x0304,
            raw_traffic: false,
            flow_label: 0xabcde,
            hop_limit: 0x40,
            tclass: 0x21,
            reversible: true,
            numb_path: 1,
            pkey: 0xffff,
            qos_class: 0x123,
            sl: 5,
            mtu_selector: Selector::Exactly,
            mtu: Mtu::Mtu2048,
            rate_selector: Selector::Exactly,
            rate: Rate::Gbps40,
            packet_lifetime_selector: Selector::Exactly,
            packet_lifetime: PacketLifetime(18),
            preference: 0,
        }
    }

    /// [`sample_path`] written byte by byte at the `ibv_path_record` offsets.
    fn sample_path_bytes() -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..8].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        b[8..24].copy_from_slice(&gid(2).0);
        b[24..40].copy_from_slice(&gid(1).0);
        b[40..42].copy_from_slice(&[0x01, 0x02]); // dlid
        b[42..44].copy_from_slice(&[0x03, 0x04]); // slid
        b[44..48].copy_from_slice(&[0x0a, 0xbc, 0xde, 0x40]); // flow label 0xabcde, hop limit 64
        b[48] = 0x21; // tclass
        b[49] = 0x81; // reversible, numb_path 1
        b[50..52].copy_from_slice(&[0xff, 0xff]); // pkey
        b[52..54].copy_from_slice(&[0x12, 0x35]); // qos class 0x123, sl 5
        b[54] = 0x84; // mtu: exactly 2048
        b[55] = 0x87; // rate: exactly 40 Gb/s
        b[56] = 0x92; // lifetime: exactly 18
        b
    }

    fn complete(bytes: &[u8]) -> (AcmRequest, usize) {
        match decode_request(bytes) {
            Ok(Decoded::Complete { request, consumed }) => (request, consumed),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn rejected(bytes: &[u8]) -> Reject {
        match decode_request(bytes) {
            Err(AcmError::Rejected { reason, consumed, header }) => {
                assert_eq!(consumed, header.length as usize);
                reason
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn layout_sizes_match_acm_h() {
        assert_eq!(HDR_LEN, 16);
        assert_eq!(EP_LEN, 72);
        assert_eq!(MSG_MAX, 592);
        assert_eq!(MAX_EP_ENTRIES, 8);
        assert_eq!(EP_CONFIG_LEN, 80);
        assert_eq!(PathFlags::PRIMARY_BIDIRECTIONAL.bits(), 0x2b);
        assert_eq!(EpFlags::QUERY_SA.bits(), 0x8000_0000);
        assert_eq!(EpFlags::NODELAY.bits(), 0x4000_0000);
    }

    #[test]
    fn path_record_bytes_are_the_core_codecs() {
        let mut out = [0u8; 64];
        sample_path().encode(&mut out).unwrap();
        assert_eq!(out, sample_path_bytes());
    }

    // ---- golden requests ----

    #[test]
    fn golden_resolve_by_lid() {
        // ib_acme -f l -s 3 -d 7: one PATH entry, no role flags, SLID/DLID and reversible|1.
        let mut info = [0u8; 64];
        info[40..42].copy_from_slice(&7u16.to_be_bytes());
        info[42..44].copy_from_slice(&3u16.to_be_bytes());
        info[49] = 0x81;
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 88, 0x55);
        msg.extend(entry(0, EP_INFO_PATH, &info));
        let (req, used) = complete(&msg);
        assert_eq!(used, 88);
        let AcmRequest::Resolve(r) = &req else { panic!("{req:?}") };
        assert_eq!(r.tid, 0x55);
        assert_eq!(r.form, ResolveForm::Path);
        assert_eq!(r.dst, Endpoint::Lid(7));
        assert_eq!(r.src, Some(Endpoint::Lid(3)));
        assert_eq!(r.flags, EpFlags::empty());
        assert!(!r.nodelay() && !r.query_sa());
        let hint = r.path_hint.unwrap();
        assert!(hint.reversible);
        assert_eq!(hint.numb_path, 1);
        assert_eq!(req.encode().unwrap(), msg);
    }

    #[test]
    fn golden_resolve_by_gid_with_flags() {
        let mut info = [0u8; 64];
        info[8..24].copy_from_slice(&gid(2).0);
        info[24..40].copy_from_slice(&gid(1).0);
        info[49] = 0x81;
        for (flags, nodelay, query_sa) in
            [(0x4000_0000u32, true, false), (0x8000_0000, false, true), (0xc000_0000, true, true)]
        {
            let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 88, 0);
            msg.extend(entry(flags, EP_INFO_PATH, &info));
            let (req, _) = complete(&msg);
            let AcmRequest::Resolve(r) = &req else { panic!() };
            assert_eq!(r.dst, Endpoint::Gid(gid(2)));
            assert_eq!(r.src, Some(Endpoint::Gid(gid(1))));
            assert_eq!((r.nodelay(), r.query_sa()), (nodelay, query_sa));
            assert_eq!(req.encode().unwrap(), msg);
        }
    }

    #[test]
    fn path_form_prefers_dlid_and_sgid() {
        let mut p = sample_path();
        let (src, dst) = path_ends(&p);
        assert_eq!((src, dst), (Some(Endpoint::Gid(gid(1))), Endpoint::Lid(0x0102)));
        p.sgid = Gid::ZERO;
        p.dlid = 0;
        assert_eq!(path_ends(&p), (Some(Endpoint::Lid(0x0304)), Endpoint::Gid(gid(2))));
        p.slid = 0;
        assert_eq!(path_ends(&p).0, None);
    }

    #[test]
    fn golden_resolve_by_name() {
        // ib_acme -f n -s host1 -d host2 -c
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 160, 0);
        msg.extend(entry(1, EP_INFO_NAME, b"host1"));
        msg.extend(entry(2 | 0x4000_0000, EP_INFO_NAME, b"host2"));
        let (req, used) = complete(&msg);
        assert_eq!(used, 160);
        let expect = ResolveRequest::address(
            0,
            EpFlags::NODELAY,
            Some(Endpoint::Name("host1".into())),
            Endpoint::Name("host2".into()),
        );
        assert_eq!(req, AcmRequest::Resolve(expect));
        assert_eq!(req.encode().unwrap(), msg);
    }

    #[test]
    fn golden_resolve_by_ip() {
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 160, 9);
        msg.extend(entry(1, EP_INFO_ADDRESS_IP, &[10, 0, 0, 1]));
        msg.extend(entry(2, EP_INFO_ADDRESS_IP, &[10, 0, 0, 2]));
        let (req, _) = complete(&msg);
        let AcmRequest::Resolve(r) = &req else { panic!() };
        assert_eq!(r.src, Some(Endpoint::Ipv4(Ipv4Addr::new(10, 0, 0, 1))));
        assert_eq!(r.dst, Endpoint::Ipv4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(req.encode().unwrap(), msg);

        // No source, IPv6 destination (ib_acme -f i -d fe80::5).
        let v6: Ipv6Addr = "fe80::5".parse().unwrap();
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 88, 0);
        msg.extend(entry(2, EP_INFO_ADDRESS_IP6, &v6.octets()));
        let (req, _) = complete(&msg);
        assert_eq!(
            req,
            AcmRequest::Resolve(ResolveRequest::address(0, EpFlags::empty(), None, Endpoint::Ipv6(v6)))
        );
        assert_eq!(req.encode().unwrap(), msg);
    }

    #[test]
    fn golden_resolve_gid_and_lid_addresses() {
        // ibacm's internal GID/LID types are accepted as addresses.
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 160, 0);
        msg.extend(entry(1, EP_INFO_ADDRESS_GID, &gid(1).0));
        msg.extend(entry(2, EP_INFO_ADDRESS_LID, &[0x12, 0x34]));
        let (req, _) = complete(&msg);
        let AcmRequest::Resolve(r) = &req else { panic!() };
        assert_eq!((r.src.clone(), r.dst.clone()), (Some(Endpoint::Gid(gid(1))), Endpoint::Lid(0x1234)));
        assert_eq!(req.encode().unwrap(), msg);
    }

    #[test]
    fn golden_rdma_getaddrinfo_with_route_hint() {
        // librdmacm: source, destination, then an unflagged PathRecord hint.
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 232, 0);
        msg.extend(entry(1, EP_INFO_ADDRESS_IP, &[10, 0, 0, 1]));
        msg.extend(entry(2, EP_INFO_ADDRESS_IP, &[10, 0, 0, 2]));
        msg.extend(entry(0, EP_INFO_PATH, &sample_path_bytes()));
        let (req, _) = complete(&msg);
        let AcmRequest::Resolve(r) = &req else { panic!() };
        assert_eq!(r.form, ResolveForm::Address);
        assert_eq!(r.path_hint, Some(sample_path()));
        assert_eq!(req.encode().unwrap(), msg);
    }

    #[test]
    fn golden_perf_queries() {
        // ib_acme -P: header only, index 0, network-order length.
        let msg = hdr_net(OP_PERF_QUERY, 0, [0; 3], 16, 0);
        assert_eq!(&msg[6..8], &[0, 16]);
        let (req, used) = complete(&msg);
        assert_eq!(
            (req.clone(), used),
            (AcmRequest::PerfQuery(PerfQuery { tid: 0, target: PerfTarget::All }), 16)
        );
        assert_eq!(req.encode().unwrap(), msg);

        // ib_acme -P 2: the index in hdr.src_index (data[1]).
        let msg = hdr_net(OP_PERF_QUERY, 0, [0, 2, 0], 16, 0);
        let (req, _) = complete(&msg);
        assert_eq!(req, AcmRequest::PerfQuery(PerfQuery { tid: 0, target: PerfTarget::Index(2) }));
        assert_eq!(req.encode().unwrap(), msg);

        // ib_acme -P s -s 10.0.0.1: one SOURCE entry, its flags and type in host order.
        let mut msg = hdr_net(OP_PERF_QUERY, 0, [0; 3], 88, 0);
        msg.extend(entry(1, EP_INFO_ADDRESS_IP, &[10, 0, 0, 1]));
        let (req, _) = complete(&msg);
        let target = PerfTarget::Address(Endpoint::Ipv4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(req, AcmRequest::PerfQuery(PerfQuery { tid: 0, target }));
        assert_eq!(req.encode().unwrap(), msg);

        // An entry without SOURCE means "all", whatever the index.
        let mut msg = hdr_net(OP_PERF_QUERY, 0, [0, 3, 0], 88, 0);
        msg.extend(entry(0, EP_INFO_ADDRESS_IP, &[10, 0, 0, 1]));
        assert_eq!(complete(&msg).0, AcmRequest::PerfQuery(PerfQuery { tid: 0, target: PerfTarget::All }));
        // With SOURCE, the index wins over the address.
        let mut msg = hdr_net(OP_PERF_QUERY, 0, [0, 3, 0], 88, 0);
        msg.extend(entry(1, EP_INFO_ADDRESS_IP, &[10, 0, 0, 1]));
        assert_eq!(
            complete(&msg).0,
            AcmRequest::PerfQuery(PerfQuery { tid: 0, target: PerfTarget::Index(3) })
        );
    }

    #[test]
    fn golden_ep_query() {
        // ib_acme -e 1, asking port 4: index in src_out, port in src_index.
        let msg = hdr_net(OP_EP_QUERY, 0, [1, 4, 0], 16, 0);
        let (req, _) = complete(&msg);
        assert_eq!(req, AcmRequest::EpQuery(EpQuery { tid: 0, index: 1, port: 4 }));
        assert_eq!(req.encode().unwrap(), msg);
    }

    /// Bytes `ib_acme` 44.0 (Debian bookworm, x86_64) sent, dumped from a socket.
    #[cfg(target_endian = "little")]
    #[test]
    fn captured_ib_acme_requests() {
        fn hex(s: &str) -> Vec<u8> {
            let s: String = s.split_whitespace().collect();
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        }
        let z = "00".repeat(64);
        let lid = format!(
            "01010000 00005800 0000000000000000 00000040 10000000 {} 0002 0001 00000000 0081 {}",
            "00".repeat(40),
            "00".repeat(14)
        );
        let (req, _) = complete(&hex(&lid));
        let AcmRequest::Resolve(r) = req else { panic!() };
        assert_eq!(
            (r.src.clone(), r.dst.clone(), r.nodelay()),
            (Some(Endpoint::Lid(1)), Endpoint::Lid(2), true)
        );

        let name = format!(
            "010100000000a000 0000000000000000 01000000 01000000 686f737431{} 02000000 01000000 686f737432{}",
            &z[..118],
            &z[..118]
        );
        let (req, used) = complete(&hex(&name));
        assert_eq!(used, 160);
        let AcmRequest::Resolve(r) = req else { panic!() };
        assert_eq!((r.src, r.dst), (Some(Endpoint::Name("host1".into())), Endpoint::Name("host2".into())));

        let perf_s = format!("0102000000000058 0000000000000000 01000000 02000000 0a000001{}", &z[..120]);
        let (req, _) = complete(&hex(&perf_s));
        let target = PerfTarget::Address(Endpoint::Ipv4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(req, AcmRequest::PerfQuery(PerfQuery { tid: 0, target }));

        let ep = "0103000101000010 0000000000000000";
        assert_eq!(complete(&hex(ep)).0, AcmRequest::EpQuery(EpQuery { tid: 0, index: 1, port: 1 }));
    }

    // ---- golden answers ----

    #[test]
    fn golden_resolve_answer() {
        let resp = AcmResponse::resolve(
            0x77,
            &[PathData::primary(sample_path())],
            Some(Endpoint::Ipv4(Ipv4Addr::new(10, 0, 0, 1))),
        );
        let mut expect = hdr_host(OP_RESOLVE | OP_ACK, 0, [0; 3], 160, 0x77);
        expect.extend(entry(0x2b, EP_INFO_PATH, &sample_path_bytes()));
        expect.extend(entry(1, EP_INFO_ADDRESS_IP, &[10, 0, 0, 1]));
        let bytes = resp.encode().unwrap();
        assert_eq!(bytes, expect);
        assert_eq!(decode_response(&bytes), Ok(DecodedResponse::Complete { response: resp, consumed: 160 }));
    }

    #[test]
    fn golden_perf_answer() {
        let c = PerfCounters::from_array([1, 2, 3, 4, 5, 6, 0x0102_0304_0506_0708]);
        let resp = AcmResponse::perf(3, 2, &c);
        let mut expect = hdr_net(OP_PERF_QUERY | OP_ACK, 0, [7, 2, 0], 72, 3);
        for v in c.to_array() {
            expect.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(&expect[16..24], &[0, 0, 0, 0, 0, 0, 0, 1]);
        let bytes = resp.encode().unwrap();
        assert_eq!(bytes, expect);
        assert_eq!(decode_response(&bytes), Ok(DecodedResponse::Complete { response: resp, consumed: 72 }));
    }

    #[test]
    fn golden_ep_answer() {
        let config = EpConfig {
            dev_guid: 0x0002_c903_00aa_bbcc,
            port_num: 1,
            phys_port_cnt: 2,
            pkey: 0xffff,
            prov_name: "localsa".into(),
            addrs: vec!["node1".into(), "10.0.0.1".into()],
        };
        let resp = AcmResponse::Ep { tid: 0, index: 1, config };
        let mut expect = hdr_net(OP_EP_QUERY | OP_ACK, 0, [1, 0, 0], 16 + 80 + 128, 0);
        expect.extend_from_slice(&[
            0x00, 0x02, 0xc9, 0x03, 0x00, 0xaa, 0xbb, 0xcc, 1, 2, 0, 0, 0xff, 0xff, 0, 2,
        ]);
        let mut name = [0u8; 64];
        name[..7].copy_from_slice(b"localsa");
        expect.extend_from_slice(&name);
        for a in ["node1", "10.0.0.1"] {
            let mut s = [0u8; 64];
            s[..a.len()].copy_from_slice(a.as_bytes());
            expect.extend_from_slice(&s);
        }
        let bytes = resp.encode().unwrap();
        assert_eq!(bytes, expect);
        assert_eq!(decode_response(&bytes), Ok(DecodedResponse::Complete { response: resp, consumed: 224 }));
    }

    #[test]
    fn golden_error_answers() {
        let req = AcmHeader::parse(&hdr_host(OP_RESOLVE, 0, [1, 2, 3], 88, 0x1234)).unwrap();
        assert_eq!(error_response(&req, AcmStatus::NoData).to_vec(), hdr_host(0x81, 3, [0; 3], 16, 0x1234));
        let req = AcmHeader::parse(&hdr_net(OP_PERF_QUERY, 0, [0, 5, 0], 16, 1)).unwrap();
        assert_eq!(error_response(&req, AcmStatus::SourceAddress).to_vec(), hdr_net(0x82, 7, [0; 3], 16, 1));
        let req = AcmHeader::parse(&hdr_net(OP_EP_QUERY, 0, [9, 1, 0], 16, 0)).unwrap();
        let bytes = error_response(&req, AcmStatus::Invalid);
        assert_eq!(bytes.to_vec(), hdr_net(0x83, 2, [0; 3], 16, 0));
        let resp = AcmResponse::Error { op: Operation::EpQuery, tid: 0, status: AcmStatus::Invalid };
        assert_eq!(resp.encode().unwrap(), bytes.to_vec());
        assert_eq!(decode_response(&bytes), Ok(DecodedResponse::Complete { response: resp, consumed: 16 }));
    }

    #[test]
    fn statuses_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(AcmStatus::from_raw(v).raw(), v);
        }
        assert_eq!(AcmStatus::from_raw(4), AcmStatus::Other(4));
        assert_eq!(AcmStatus::DestType.to_string(), "ACM_STATUS_EDESTTYPE (10)");
    }

    // ---- framing ----

    #[test]
    fn every_prefix_needs_more() {
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 160, 0);
        msg.extend(entry(1, EP_INFO_NAME, b"a"));
        msg.extend(entry(2, EP_INFO_NAME, b"b"));
        for n in 0..msg.len() {
            let want = if n < HDR_LEN { HDR_LEN } else { 160 };
            assert_eq!(decode_request(&msg[..n]), Ok(Decoded::NeedMore { total: want }), "prefix {n}");
        }
        assert!(matches!(decode_request(&msg), Ok(Decoded::Complete { consumed: 160, .. })));
    }

    #[test]
    fn pipelined_requests_are_read_one_at_a_time() {
        let a = hdr_net(OP_PERF_QUERY, 0, [0; 3], 16, 1);
        let b = hdr_net(OP_EP_QUERY, 0, [1, 1, 0], 16, 2);
        let mut stream = [a, b].concat();
        stream.push(1); // the first byte of a third
        let (r1, n1) = complete(&stream);
        assert_eq!((r1.tid(), n1), (1, 16));
        let (r2, n2) = complete(&stream[n1..]);
        assert_eq!((r2.tid(), n2), (2, 16));
        assert_eq!(decode_request(&stream[32..]), Ok(Decoded::NeedMore { total: HDR_LEN }));
    }

    #[test]
    fn partial_trailing_entry_is_ignored() {
        // (100 - 16) / 72 = 1 entry, as ibacm counts.
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 100, 0);
        msg.extend(entry(2, EP_INFO_ADDRESS_IP, &[1, 2, 3, 4]));
        msg.extend([0xee; 12]);
        let (req, used) = complete(&msg);
        assert_eq!(used, 100);
        let AcmRequest::Resolve(r) = req else { panic!() };
        assert_eq!(r.dst, Endpoint::Ipv4(Ipv4Addr::new(1, 2, 3, 4)));
    }

    #[test]
    fn unflagged_entries_are_ignored() {
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 16 + 3 * 72, 0);
        msg.extend(entry(0, 0x7777, &[]));
        msg.extend(entry(0, EP_INFO_NAME, &[]));
        msg.extend(entry(2, EP_INFO_NAME, b"x"));
        let (req, _) = complete(&msg);
        let AcmRequest::Resolve(r) = req else { panic!() };
        assert_eq!((r.src, r.dst, r.path_hint), (None, Endpoint::Name("x".into()), None));
    }

    #[test]
    fn one_entry_can_be_both_ends() {
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 88, 0);
        msg.extend(entry(3, EP_INFO_NAME, b"me"));
        let (req, _) = complete(&msg);
        let AcmRequest::Resolve(r) = req else { panic!() };
        assert_eq!((r.src, r.dst), (Some(Endpoint::Name("me".into())), Endpoint::Name("me".into())));
    }

    #[test]
    fn a_64_byte_name_without_nul_is_read_whole() {
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], 88, 0);
        msg.extend(entry(2, EP_INFO_NAME, &[b'n'; 64]));
        let (req, _) = complete(&msg);
        let AcmRequest::Resolve(r) = req else { panic!() };
        assert_eq!(r.dst, Endpoint::Name("n".repeat(64)));
    }

    // ---- every error path ----

    #[test]
    fn framing_errors_disconnect() {
        assert_eq!(decode_request(&[2]), Err(AcmError::BadVersion(2)));
        assert_eq!(decode_request(&[0, 1]), Err(AcmError::BadVersion(0)));
        for op in [0x00, 0x04, 0x0f, 0x81, 0x11, 0xff] {
            assert_eq!(decode_request(&[1, op]), Err(AcmError::UnknownOpcode(op)), "{op:#x}");
        }
        let short = hdr_host(OP_RESOLVE, 0, [0; 3], 15, 0);
        assert_eq!(decode_request(&short), Err(AcmError::LengthTooShort(15)));
        let short = hdr_net(OP_EP_QUERY, 0, [1, 0, 0], 0, 0);
        assert_eq!(decode_request(&short), Err(AcmError::LengthTooShort(0)));
        let long = hdr_host(OP_RESOLVE, 0, [0; 3], 593, 0);
        assert_eq!(decode_request(&long), Err(AcmError::LengthTooLong(593)));
        // A perf query read with the wrong byte order would claim 4096 bytes.
        let long = hdr_host(OP_PERF_QUERY, 0, [0; 3], 16, 0);
        let claimed = u16::from_be_bytes(16u16.to_ne_bytes());
        if claimed != 16 {
            assert_eq!(decode_request(&long), Err(AcmError::LengthTooLong(claimed)));
        }
        for e in [AcmError::BadVersion(0), AcmError::UnknownOpcode(9), AcmError::LengthTooShort(1)] {
            assert_eq!(e.action(), ErrorAction::Disconnect);
            assert_eq!(e.error_response(), None);
        }
        // The largest request is fine.
        let mut max = hdr_host(OP_RESOLVE, 0, [0; 3], 592, 0);
        max.extend(entry(2, EP_INFO_NAME, b"d"));
        max.resize(592, 0);
        assert!(matches!(decode_request(&max), Ok(Decoded::Complete { consumed: 592, .. })));
    }

    fn resolve_msg(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut msg = hdr_host(OP_RESOLVE, 0, [0; 3], (16 + 72 * entries.len()) as u16, 0xabc);
        for e in entries {
            msg.extend_from_slice(e);
        }
        msg
    }

    #[test]
    fn resolve_rejections_carry_ibacms_status() {
        let ip = |f| entry(f, EP_INFO_ADDRESS_IP, &[1, 1, 1, 1]);
        let cases: Vec<(Vec<Vec<u8>>, Reject, AcmStatus)> = vec![
            (vec![], Reject::NoDestination, AcmStatus::DestType),
            (vec![ip(1)], Reject::NoDestination, AcmStatus::DestType),
            (vec![ip(1), ip(1), ip(2)], Reject::MultipleSources, AcmStatus::SourceAddress),
            (vec![ip(2), ip(2)], Reject::MultipleDestinations, AcmStatus::DestAddress),
            (vec![entry(1, 0, &[]), ip(2)], Reject::SourceType(0), AcmStatus::SourceType),
            (vec![entry(1, 6, &[]), ip(2)], Reject::SourceType(6), AcmStatus::SourceType),
            (vec![ip(2), entry(1, EP_INFO_PATH, &[])], Reject::SourceType(0x10), AcmStatus::SourceType),
            (vec![ip(1), entry(2, 0, &[])], Reject::DestinationType(0), AcmStatus::DestType),
            (vec![ip(1), entry(2, 0x10, &[])], Reject::DestinationType(0x10), AcmStatus::DestType),
            (
                vec![entry(1, EP_INFO_NAME, &[]), ip(2)],
                Reject::SourceAddress(EndpointError::EmptyName),
                AcmStatus::SourceAddress,
            ),
            (
                vec![ip(1), entry(2, EP_INFO_NAME, &[0xff, 0xfe])],
                Reject::DestinationAddress(EndpointError::NameNotUtf8),
                AcmStatus::DestAddress,
            ),
            (vec![entry(0, EP_INFO_PATH, &[0; 64])], Reject::PathWithoutDestination, AcmStatus::DestAddress),
            (
                vec![entry(0x8000_0000, EP_INFO_PATH, &[0; 64])],
                Reject::PathWithoutDestination,
                AcmStatus::DestAddress,
            ),
            (
                vec![entry(0x8000_0000, EP_INFO_PATH, &sample_path_bytes()), ip(0)],
                Reject::QuerySaLength(160),
                AcmStatus::Invalid,
            ),
        ];
        for (entries, reason, status) in cases {
            let msg = resolve_msg(&entries);
            assert_eq!(rejected(&msg), reason, "{entries:?}");
            assert_eq!(reason.status(), status);
            let err = decode_request(&msg).unwrap_err();
            assert_eq!(err.action(), ErrorAction::Answer { status, consumed: msg.len() });
            let answer = err.error_response().unwrap();
            assert_eq!(answer.to_vec(), hdr_host(0x81, status.raw(), [0; 3], 16, 0xabc));
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn perf_and_ep_rejections() {
        let mut msg = hdr_net(OP_PERF_QUERY, 0, [0; 3], 88, 0);
        msg.extend(entry(1, 0x99, &[]));
        assert_eq!(rejected(&msg), Reject::PerfAddress(EndpointError::UnknownType(0x99)));
        assert_eq!(Reject::PerfAddress(EndpointError::EmptyName).status(), AcmStatus::SourceAddress);
        let msg = hdr_net(OP_EP_QUERY, 0, [0, 1, 0], 16, 5);
        assert_eq!(rejected(&msg), Reject::EpIndexZero);
        let err = decode_request(&msg).unwrap_err();
        assert_eq!(err.error_response().unwrap().to_vec(), hdr_net(0x83, 2, [0; 3], 16, 5));
    }

    #[test]
    fn encode_errors() {
        let name = |n: &str| {
            AcmRequest::Resolve(ResolveRequest::address(0, EpFlags::empty(), None, Endpoint::Name(n.into())))
        };
        assert_eq!(name("").encode(), Err(EncodeError::BadName { len: 0 }));
        assert_eq!(name(&"x".repeat(64)).encode(), Err(EncodeError::BadName { len: 64 }));
        assert_eq!(name("a\0b").encode(), Err(EncodeError::BadName { len: 3 }));
        assert!(name(&"x".repeat(63)).encode().is_ok());
        let mut r = ResolveRequest::path(0, EpFlags::empty(), sample_path());
        r.path_hint = None;
        assert_eq!(AcmRequest::Resolve(r).encode(), Err(EncodeError::PathFormWithoutPath));
        let mut p = sample_path();
        p.sl = 16;
        let r = AcmRequest::Resolve(ResolveRequest::path(0, EpFlags::empty(), p));
        assert!(matches!(r.encode(), Err(EncodeError::Path(_))));
        let idx0 = AcmRequest::PerfQuery(PerfQuery { tid: 0, target: PerfTarget::Index(0) });
        assert_eq!(idx0.encode(), Err(EncodeError::IndexZero));
        assert_eq!(
            AcmRequest::EpQuery(EpQuery { tid: 0, index: 0, port: 0 }).encode(),
            Err(EncodeError::IndexZero)
        );

        let nine = vec![PathData::primary(sample_path()); 9];
        assert_eq!(
            AcmResponse::resolve(0, &nine, None).encode(),
            Err(EncodeError::TooLong { len: 664, max: 592 })
        );
        assert!(AcmResponse::resolve(0, &nine[..8], None).encode().is_ok());
        let perf = AcmResponse::Perf { tid: 0, index: 0, counters: vec![0; 73] };
        assert_eq!(perf.encode(), Err(EncodeError::TooLong { len: 600, max: 592 }));
        let perf = AcmResponse::Perf { tid: 0, index: 0, counters: vec![0; 300] };
        assert_eq!(perf.encode(), Err(EncodeError::TooLong { len: 2416, max: 592 }));
        let long = "p".repeat(64);
        let ep = |prov_name: String, addrs: Vec<String>| AcmResponse::Ep {
            tid: 0,
            index: 1,
            config: EpConfig { prov_name, addrs, ..Default::default() },
        };
        assert_eq!(ep(long.clone(), vec![]).encode(), Err(EncodeError::ProviderNameTooLong));
        assert_eq!(ep("x".into(), vec![long]).encode(), Err(EncodeError::AddressTooLong));
        assert_eq!(
            ep("x".into(), vec!["a".into(); 1023]).encode(),
            Err(EncodeError::TooLong { len: 65568, max: 65535 })
        );
        assert!(matches!(ep("x".into(), vec!["a".into(); 70000]).encode(), Err(EncodeError::TooLong { .. })));
        assert_eq!(ep("x".into(), vec!["a".into(); 1022]).encode().unwrap().len(), 65504);
    }

    #[test]
    fn response_errors() {
        assert_eq!(decode_response(&[0]), Err(ResponseError::BadVersion(0)));
        assert_eq!(decode_response(&[1, 1]), Err(ResponseError::NotAnAnswer(1)));
        assert_eq!(decode_response(&[1, 0x84]), Err(ResponseError::NotAnAnswer(0x84)));
        assert_eq!(decode_response(&[1, 0x81]), Ok(DecodedResponse::NeedMore { total: 16 }));
        let h = hdr_host(0x81, 0, [0; 3], 8, 0);
        assert_eq!(decode_response(&h), Err(ResponseError::LengthTooShort(8)));
        let h = hdr_host(0x81, 0, [0; 3], 20, 0);
        assert_eq!(decode_response(&h), Ok(DecodedResponse::NeedMore { total: 20 }));
        let h = [h, vec![0; 4]].concat();
        assert_eq!(decode_response(&h), Err(ResponseError::BadLength(20)));
        let h = hdr_net(0x82, 0, [2, 0, 0], 24, 0);
        assert_eq!(decode_response(&[h, vec![0; 8]].concat()), Err(ResponseError::BadLength(24)));
        let h = hdr_net(0x83, 0, [1, 0, 0], 24, 0);
        assert_eq!(decode_response(&[h, vec![0; 8]].concat()), Err(ResponseError::BadLength(24)));
        let mut h = hdr_host(0x81, 0, [0; 3], 88, 0);
        h.extend(entry(0, 0x42, &[]));
        assert_eq!(decode_response(&h), Err(ResponseError::Entry(EndpointError::UnknownType(0x42))));
    }

    #[test]
    fn displays() {
        assert_eq!(Endpoint::Lid(5).to_string(), "LID(5)");
        assert_eq!(Endpoint::Path(sample_path()).to_string(), "SLID(772) DLID(258)");
        assert_eq!(
            Endpoint::Path(PathRecordRepr { dgid: gid(2), ..Default::default() }).to_string(),
            "fe80::2:c903:0:2"
        );
        assert_eq!(Endpoint::Ipv4(Ipv4Addr::new(10, 0, 0, 1)).to_string(), "10.0.0.1");
        assert_eq!(AcmError::LengthTooLong(600).to_string(), "ACM length 600 exceeds 592");
    }

    // ---- properties ----

    fn arb_path() -> impl Strategy<Value = PathRecordRepr> {
        // Every 64-byte pattern is a PathRecord; decoding drops the reserved bits.
        any::<[u8; 64]>().prop_map(|b| PathRecordRepr::decode(&b).unwrap())
    }

    fn arb_address() -> impl Strategy<Value = Endpoint> {
        prop_oneof![
            "[a-zA-Z0-9.-]{1,63}".prop_map(Endpoint::Name),
            any::<[u8; 4]>().prop_map(|a| Endpoint::Ipv4(a.into())),
            any::<[u8; 16]>().prop_map(|a| Endpoint::Ipv6(a.into())),
            any::<[u8; 16]>().prop_map(|a| Endpoint::Gid(Gid(a))),
            any::<u16>().prop_map(Endpoint::Lid),
        ]
    }

    fn arb_options() -> impl Strategy<Value = EpFlags> {
        (any::<bool>(), any::<bool>()).prop_map(|(n, q)| {
            let mut f = EpFlags::empty();
            f.set(EpFlags::NODELAY, n);
            f.set(EpFlags::QUERY_SA, q);
            f
        })
    }

    fn arb_request() -> impl Strategy<Value = AcmRequest> {
        prop_oneof![
            (any::<u64>(), arb_options(), arb_path())
                .prop_filter("needs a destination", |(_, _, p)| p.dlid != 0 || !p.dgid.is_zero())
                .prop_map(|(tid, f, p)| AcmRequest::Resolve(ResolveRequest::path(tid, f, p))),
            (
                any::<u64>(),
                arb_options(),
                proptest::option::of(arb_address()),
                arb_address(),
                proptest::option::of(arb_path())
            )
                .prop_map(|(tid, f, src, dst, hint)| {
                    let mut r = ResolveRequest::address(tid, f, src, dst);
                    r.path_hint = hint;
                    AcmRequest::Resolve(r)
                }),
            (
                any::<u64>(),
                prop_oneof![
                    Just(PerfTarget::All),
                    (1u8..).prop_map(PerfTarget::Index),
                    prop_oneof![arb_address(), arb_path().prop_map(Endpoint::Path)]
                        .prop_map(PerfTarget::Address),
                ]
            )
                .prop_map(|(tid, target)| AcmRequest::PerfQuery(PerfQuery { tid, target })),
            (any::<u64>(), 1u8.., any::<u8>()).prop_map(|(tid, index, port)| AcmRequest::EpQuery(EpQuery {
                tid,
                index,
                port
            })),
        ]
    }

    fn arb_response() -> impl Strategy<Value = AcmResponse> {
        let entry = prop_oneof![
            (any::<u32>(), arb_path()).prop_map(|(f, path)| ResolveEntry::Path(PathData {
                flags: PathFlags::from_bits_retain(f),
                path
            })),
            (any::<u32>(), arb_address()).prop_map(|(f, endpoint)| ResolveEntry::Address {
                flags: EpFlags::from_bits_retain(f),
                endpoint
            }),
        ];
        let text = "[a-z0-9.:-]{0,63}";
        prop_oneof![
            (any::<u64>(), proptest::collection::vec(entry, 0..=8))
                .prop_map(|(tid, entries)| AcmResponse::Resolve { tid, entries }),
            (any::<u64>(), any::<u8>(), proptest::collection::vec(any::<u64>(), 0..=72))
                .prop_map(|(tid, index, counters)| AcmResponse::Perf { tid, index, counters }),
            (
                any::<u64>(),
                any::<u8>(),
                (any::<u64>(), any::<u8>(), any::<u8>(), any::<u16>()),
                text,
                proptest::collection::vec(text, 0..20)
            )
                .prop_map(
                    |(tid, index, (dev_guid, port_num, phys_port_cnt, pkey), prov_name, addrs)| {
                        AcmResponse::Ep {
                            tid,
                            index,
                            config: EpConfig { dev_guid, port_num, phys_port_cnt, pkey, prov_name, addrs },
                        }
                    }
                ),
            (
                prop_oneof![Just(Operation::Resolve), Just(Operation::PerfQuery), Just(Operation::EpQuery)],
                any::<u64>(),
                1u8..
            )
                .prop_map(|(op, tid, s)| AcmResponse::Error {
                    op,
                    tid,
                    status: AcmStatus::from_raw(s)
                }),
        ]
    }

    /// Decodes a whole stream fed in chunks of the given sizes, as a server reading a socket
    /// would; panics on an error.
    fn decode_stream(stream: &[u8], chunks: &[usize]) -> Vec<AcmRequest> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut fed = 0;
        let mut sizes = chunks.iter().copied().cycle();
        while fed < stream.len() || !buf.is_empty() {
            match decode_request(&buf).unwrap() {
                Decoded::Complete { request, consumed } => {
                    out.push(request);
                    buf.drain(..consumed);
                }
                Decoded::NeedMore { total } => {
                    assert!(total > buf.len() && total <= MSG_MAX);
                    assert!(fed < stream.len(), "stream ended inside a message");
                    let n = sizes.next().unwrap().clamp(1, stream.len() - fed);
                    buf.extend_from_slice(&stream[fed..fed + n]);
                    fed += n;
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn requests_round_trip(req in arb_request()) {
            let bytes = req.encode().unwrap();
            prop_assert!(bytes.len() <= MSG_MAX);
            prop_assert_eq!(decode_request(&bytes), Ok(Decoded::Complete { request: req, consumed: bytes.len() }));
        }

        #[test]
        fn responses_round_trip(resp in arb_response()) {
            let bytes = resp.encode().unwrap();
            prop_assert_eq!(
                decode_response(&bytes),
                Ok(DecodedResponse::Complete { response: resp, consumed: bytes.len() })
            );
        }

        #[test]
        fn streams_split_anywhere(
            reqs in proptest::collection::vec(arb_request(), 1..6),
            chunks in proptest::collection::vec(1usize..200, 1..10),
        ) {
            let stream: Vec<u8> = reqs.iter().flat_map(|r| r.encode().unwrap()).collect();
            prop_assert_eq!(decode_stream(&stream, &chunks), reqs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..700),
            split in any::<proptest::sample::Index>(),
        ) {
            // Bias towards a valid start so the checks past the header are reached.
            for input in [bytes.clone(), { let mut b = bytes.clone(); b.splice(0..0, [1, 1 + (bytes.len() % 3) as u8]); b }] {
                let cut = split.index(input.len() + 1);
                for part in [&input[..], &input[..cut]] {
                    match decode_request(part) {
                        Ok(Decoded::Complete { consumed, .. }) => {
                            prop_assert!(consumed >= HDR_LEN && consumed <= part.len() && consumed <= MSG_MAX)
                        }
                        Ok(Decoded::NeedMore { total }) => prop_assert!(total > part.len() && total <= MSG_MAX),
                        Err(e) => match e.action() {
                            ErrorAction::Answer { consumed, .. } => prop_assert!(consumed <= part.len()),
                            ErrorAction::Disconnect => {}
                        },
                    }
                    let _ = decode_response(part);
                }
            }
        }

        #[test]
        fn prefixes_of_a_request_need_more(req in arb_request(), cut in any::<proptest::sample::Index>()) {
            let bytes = req.encode().unwrap();
            let n = cut.index(bytes.len());
            let want = if n < HDR_LEN { HDR_LEN } else { bytes.len() };
            prop_assert_eq!(decode_request(&bytes[..n]), Ok(Decoded::NeedMore { total: want }));
        }
    }
}
