//! The `ibacm_hosts.data` address file: host names and IP addresses mapped to GIDs, so that
//! name and IP resolve requests can be answered without ACM's address protocol.
//!
//! # Format
//!
//! One mapping per line, fields separated by blanks:
//!
//! ```text
//! # comment
//! <host name | IPv4 | IPv6>  <GID>  [<QPN> [<flags>]]
//! luna3        fe80::8:f104:39a:169
//! 192.168.1.3  fe80::8:f104:39a:169  0x48  0x80
//! ```
//!
//! * The address is an IPv4 address if it parses as one, else an IPv6 address, else a host
//!   name (ibacm's `acmp_parse_hosts_file` order). Names are ASCII, at most 63 bytes (what an
//!   ACM name field carries with its NUL), and compared case-insensitively as ibacm does.
//! * The GID is in IPv6 notation.
//! * QPN: the remote QP number, 24 bits, decimal or `0x` hex. Flags: 8 bits, decimal or hex;
//!   bit 7 = the remote supports RC, bit 6 = UC, bits 5..0 reserved and must be zero. The
//!   rdma-core 44 ibacm reads only the first two fields and ignores the rest; we parse and
//!   check them because an admin who wrote them meant something.
//! * `#` starts a comment anywhere a field could start (ibacm: only in column 0; a `#` later
//!   on an ibacm line is an ignored extra field, or a GID parse error).
//!
//! A bad line is reported as a [`HostsError`] with its line number and skipped; parsing never
//! fails as a whole. When an address appears twice, the first line wins and the second is
//! reported (as in `/etc/hosts`; ibacm would let the last one win). A GID may appear on many
//! lines: that is how one port gets several names.

use std::collections::{hash_map, HashMap};
use std::fmt;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use localsa_core::wire::Gid;

use super::acm::{Endpoint, MAX_ADDRESS};

/// The longest host name: an ACM name field is 64 bytes with its NUL.
pub const MAX_NAME_LEN: usize = MAX_ADDRESS - 1;
/// The largest QPN (24 bits).
pub const MAX_QPN: u32 = 0x00ff_ffff;

/// The address side of a line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostAddress {
    /// A host name, as written (lookups ignore ASCII case).
    Name(String),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address.
    Ipv6(Ipv6Addr),
}

impl fmt::Display for HostAddress {
    /// The text an endpoint query lists for the address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostAddress::Name(n) => f.write_str(n),
            HostAddress::Ipv4(a) => write!(f, "{a}"),
            HostAddress::Ipv6(a) => write!(f, "{a}"),
        }
    }
}

/// The connected modes a remote interface supports (the optional fourth field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostFlags(pub u8);

impl HostFlags {
    /// Bit 7: reliable connected.
    pub const RC: u8 = 0x80;
    /// Bit 6: unreliable connected.
    pub const UC: u8 = 0x40;
    /// Bits 5..0, which must be zero.
    pub const RESERVED: u8 = 0x3f;

    /// Whether RC is supported.
    pub const fn rc(self) -> bool {
        self.0 & Self::RC != 0
    }

    /// Whether UC is supported.
    pub const fn uc(self) -> bool {
        self.0 & Self::UC != 0
    }
}

/// One good line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostEntry {
    /// The name or address.
    pub address: HostAddress,
    /// The port GID it maps to.
    pub gid: Gid,
    /// The remote QP number, if given.
    pub qpn: Option<u32>,
    /// The connected-mode flags, if given.
    pub flags: Option<HostFlags>,
    /// The line it came from, counting from 1.
    pub line: usize,
}

/// What was wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostsErrorKind {
    /// The line is not UTF-8.
    NotUtf8,
    /// An address without a GID.
    MissingGid,
    /// The GID is not in IPv6 notation.
    BadGid(String),
    /// A host name with non-ASCII characters.
    NameNotAscii(String),
    /// A host name longer than [`MAX_NAME_LEN`] bytes.
    NameTooLong(usize),
    /// The QPN is not a number.
    BadQpn(String),
    /// The QPN does not fit 24 bits.
    QpnTooLarge(u32),
    /// The flags are not a number below 256.
    BadFlags(String),
    /// The flags set reserved bits 5..0.
    ReservedFlags(u8),
    /// A fifth field.
    ExtraField(String),
    /// The address was already mapped on an earlier line.
    Duplicate {
        /// The line that mapped it first.
        first_line: usize,
    },
}

/// A bad line, skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsError {
    /// Its number, counting from 1.
    pub line: usize,
    /// What was wrong.
    pub kind: HostsErrorKind,
}

impl fmt::Display for HostsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.kind {
            HostsErrorKind::NotUtf8 => f.write_str("not UTF-8"),
            HostsErrorKind::MissingGid => f.write_str("address without a GID"),
            HostsErrorKind::BadGid(g) => write!(f, "{g:?} is not a GID"),
            HostsErrorKind::NameNotAscii(n) => write!(f, "host name {n:?} is not ASCII"),
            HostsErrorKind::NameTooLong(n) => {
                write!(f, "host name of {n} bytes (at most {MAX_NAME_LEN})")
            }
            HostsErrorKind::BadQpn(q) => write!(f, "{q:?} is not a QPN"),
            HostsErrorKind::QpnTooLarge(q) => write!(f, "QPN {q:#x} does not fit 24 bits"),
            HostsErrorKind::BadFlags(s) => write!(f, "{s:?} is not an 8-bit flags value"),
            HostsErrorKind::ReservedFlags(v) => write!(f, "flags {v:#04x} set reserved bits 5..0"),
            HostsErrorKind::ExtraField(s) => write!(f, "unexpected field {s:?}"),
            HostsErrorKind::Duplicate { first_line } => {
                write!(f, "address already mapped on line {first_line}; line skipped")
            }
        }
    }
}

impl std::error::Error for HostsError {}

/// The parsed file, indexed for the lookups resolve and endpoint queries need.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    entries: Vec<HostEntry>,
    by_name: HashMap<String, usize>,
    by_ipv4: HashMap<Ipv4Addr, usize>,
    by_ipv6: HashMap<Ipv6Addr, usize>,
    by_gid: HashMap<Gid, Vec<usize>>,
}

impl Hosts {
    /// Parses a whole file's bytes. Never fails: bad lines come back as errors, in order.
    pub fn parse(text: &[u8]) -> (Hosts, Vec<HostsError>) {
        let mut hosts = Hosts::default();
        let mut errors = Vec::new();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            let result = std::str::from_utf8(raw)
                .map_err(|_| HostsErrorKind::NotUtf8)
                .and_then(|s| parse_line(s, line))
                .and_then(|entry| match entry {
                    Some(e) => hosts.insert(e),
                    None => Ok(()),
                });
            if let Err(kind) = result {
                errors.push(HostsError { line, kind });
            }
        }
        (hosts, errors)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> std::io::Result<(Hosts, Vec<HostsError>)> {
        Ok(Hosts::parse(&std::fs::read(path)?))
    }

    fn insert(&mut self, e: HostEntry) -> Result<(), HostsErrorKind> {
        let idx = self.entries.len();
        let first = match &e.address {
            HostAddress::Name(n) => claim(&mut self.by_name, n.to_ascii_lowercase(), idx),
            HostAddress::Ipv4(a) => claim(&mut self.by_ipv4, *a, idx),
            HostAddress::Ipv6(a) => claim(&mut self.by_ipv6, *a, idx),
        };
        if let Some(first) = first {
            return Err(HostsErrorKind::Duplicate { first_line: self.entries[first].line });
        }
        self.by_gid.entry(e.gid).or_default().push(idx);
        self.entries.push(e);
        Ok(())
    }

    /// Every good line, in file order.
    pub fn entries(&self) -> &[HostEntry] {
        &self.entries
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The mapping of a host name, ignoring ASCII case.
    pub fn by_name(&self, name: &str) -> Option<&HostEntry> {
        self.by_name.get(&name.to_ascii_lowercase()).map(|&i| &self.entries[i])
    }

    /// The mapping of an IPv4 address.
    pub fn by_ipv4(&self, addr: Ipv4Addr) -> Option<&HostEntry> {
        self.by_ipv4.get(&addr).map(|&i| &self.entries[i])
    }

    /// The mapping of an IPv6 address.
    pub fn by_ipv6(&self, addr: Ipv6Addr) -> Option<&HostEntry> {
        self.by_ipv6.get(&addr).map(|&i| &self.entries[i])
    }

    /// The mapping of an address.
    pub fn lookup(&self, addr: &HostAddress) -> Option<&HostEntry> {
        match addr {
            HostAddress::Name(n) => self.by_name(n),
            HostAddress::Ipv4(a) => self.by_ipv4(*a),
            HostAddress::Ipv6(a) => self.by_ipv6(*a),
        }
    }

    /// The mapping of an ACM endpoint: names and IP addresses are looked up; GIDs, LIDs and
    /// paths are not host addresses, so `None`.
    pub fn lookup_endpoint(&self, ep: &Endpoint) -> Option<&HostEntry> {
        match ep {
            Endpoint::Name(n) => self.by_name(n),
            Endpoint::Ipv4(a) => self.by_ipv4(*a),
            Endpoint::Ipv6(a) => self.by_ipv6(*a),
            Endpoint::Gid(_) | Endpoint::Lid(_) | Endpoint::Path(_) => None,
        }
    }

    /// Every mapping to `gid`, in file order: the names and addresses an endpoint query lists
    /// for the local port with that GID.
    pub fn by_gid(&self, gid: Gid) -> impl Iterator<Item = &HostEntry> {
        self.by_gid.get(&gid).into_iter().flatten().map(|&i| &self.entries[i])
    }
}

/// Maps `key` to `idx` unless it is mapped already; then returns the existing index.
fn claim<K: Hash + Eq>(map: &mut HashMap<K, usize>, key: K, idx: usize) -> Option<usize> {
    match map.entry(key) {
        hash_map::Entry::Occupied(o) => Some(*o.get()),
        hash_map::Entry::Vacant(v) => {
            v.insert(idx);
            None
        }
    }
}

/// Parses one line: `Ok(None)` for a blank or comment line.
fn parse_line(line: &str, number: usize) -> Result<Option<HostEntry>, HostsErrorKind> {
    let mut fields = line.split_ascii_whitespace().take_while(|f| !f.starts_with('#'));
    let Some(addr) = fields.next() else {
        return Ok(None);
    };
    let gid = fields.next().ok_or(HostsErrorKind::MissingGid)?;
    let gid = gid
        .parse::<Ipv6Addr>()
        .map(|g| Gid(g.octets()))
        .map_err(|_| HostsErrorKind::BadGid(gid.to_owned()))?;
    let address = if let Ok(a) = addr.parse::<Ipv4Addr>() {
        HostAddress::Ipv4(a)
    } else if let Ok(a) = addr.parse::<Ipv6Addr>() {
        HostAddress::Ipv6(a)
    } else if !addr.is_ascii() {
        return Err(HostsErrorKind::NameNotAscii(addr.to_owned()));
    } else if addr.len() > MAX_NAME_LEN {
        return Err(HostsErrorKind::NameTooLong(addr.len()));
    } else {
        HostAddress::Name(addr.to_owned())
    };
    let qpn = match fields.next() {
        None => None,
        Some(q) => {
            let v = parse_number(q).ok_or_else(|| HostsErrorKind::BadQpn(q.to_owned()))?;
            if v > MAX_QPN {
                return Err(HostsErrorKind::QpnTooLarge(v));
            }
            Some(v)
        }
    };
    let flags = match fields.next() {
        None => None,
        Some(s) => {
            let v = parse_number(s)
                .and_then(|v| u8::try_from(v).ok())
                .ok_or_else(|| HostsErrorKind::BadFlags(s.to_owned()))?;
            if v & HostFlags::RESERVED != 0 {
                return Err(HostsErrorKind::ReservedFlags(v));
            }
            Some(HostFlags(v))
        }
    };
    if let Some(extra) = fields.next() {
        return Err(HostsErrorKind::ExtraField(extra.to_owned()));
    }
    Ok(Some(HostEntry { address, gid, qpn, flags, line: number }))
}

/// A decimal or `0x`-prefixed hexadecimal `u32`.
fn parse_number(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn g(s: &str) -> Gid {
        Gid(s.parse::<Ipv6Addr>().unwrap().octets())
    }

    #[test]
    fn rdma_core_sample_file() {
        // ibacm/ibacm_hosts.data from rdma-core, with its sample lines uncommented.
        let text = b"# InfiniBand Communication Management Assistant for clusters hosts file\n\
            #\n\
            # Entry format is:\n\
            # address IB GID\n\
            luna3 fe80::8:f104:39a:169\n\
            192.168.1.3 fe80::8:f104:39a:169\n\
            fe80::208:f104:39a:169 fe80::8:f104:39a:169\n";
        let (hosts, errors) = Hosts::parse(text);
        assert_eq!(errors, vec![]);
        assert_eq!(hosts.len(), 3);
        let gid = g("fe80::8:f104:39a:169");
        let e = hosts.by_name("luna3").unwrap();
        assert_eq!((e.gid, e.line, e.qpn, e.flags), (gid, 5, None, None));
        assert_eq!(hosts.by_ipv4("192.168.1.3".parse().unwrap()).unwrap().line, 6);
        assert_eq!(hosts.by_ipv6("fe80::208:f104:39a:169".parse().unwrap()).unwrap().line, 7);
        let names: Vec<String> = hosts.by_gid(gid).map(|e| e.address.to_string()).collect();
        assert_eq!(names, ["luna3", "192.168.1.3", "fe80::208:f104:39a:169"]);
        assert_eq!(hosts.by_gid(Gid::ZERO).count(), 0);
    }

    #[test]
    fn qpn_flags_comments_and_case() {
        let text = b"  Node-A\tfe80::1 0x48 0x80   # trailing comment\n\
            node-b fe80::2 72 192\n\
            \t# indented comment\n\
            \r\n\
            10.0.0.3 fe80::3 0xffffff 0\r\n";
        let (hosts, errors) = Hosts::parse(text);
        assert_eq!(errors, vec![]);
        let a = hosts.by_name("NODE-a").unwrap();
        assert_eq!(a.address, HostAddress::Name("Node-A".into()));
        assert_eq!((a.qpn, a.flags), (Some(0x48), Some(HostFlags(0x80))));
        assert!(a.flags.unwrap().rc() && !a.flags.unwrap().uc());
        let b = hosts.by_name("node-b").unwrap();
        assert_eq!((b.qpn, b.flags), (Some(72), Some(HostFlags(0xc0))));
        let c = hosts.lookup(&HostAddress::Ipv4("10.0.0.3".parse().unwrap())).unwrap();
        assert_eq!((c.line, c.qpn, c.flags), (5, Some(0xff_ffff), Some(HostFlags(0))));
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let long = "n".repeat(64);
        let text = format!(
            "good fe80::1\n\
             lonely\n\
             bad-gid fe80::zz\n\
             {long} fe80::1\n\
             h\u{e9}te fe80::1\n\
             q fe80::1 qpn\n\
             q2 fe80::1 0x1000000\n\
             f fe80::1 1 0x100\n\
             f2 fe80::1 1 0x81\n\
             f3 fe80::1 1 x\n\
             x fe80::1 1 0 extra\n\
             GOOD fe80::9\n\
             also-good fe80::2\n"
        );
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"\xff\xfe fe80::1\n");
        let (hosts, errors) = Hosts::parse(&bytes);
        let kinds: Vec<(usize, HostsErrorKind)> = errors.iter().map(|e| (e.line, e.kind.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                (2, HostsErrorKind::MissingGid),
                (3, HostsErrorKind::BadGid("fe80::zz".into())),
                (4, HostsErrorKind::NameTooLong(64)),
                (5, HostsErrorKind::NameNotAscii("h\u{e9}te".into())),
                (6, HostsErrorKind::BadQpn("qpn".into())),
                (7, HostsErrorKind::QpnTooLarge(0x100_0000)),
                (8, HostsErrorKind::BadFlags("0x100".into())),
                (9, HostsErrorKind::ReservedFlags(0x81)),
                (10, HostsErrorKind::BadFlags("x".into())),
                (11, HostsErrorKind::ExtraField("extra".into())),
                (12, HostsErrorKind::Duplicate { first_line: 1 }),
                (14, HostsErrorKind::NotUtf8),
            ]
        );
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts.by_name("good").unwrap().gid, g("fe80::1"));
        assert_eq!(hosts.by_name("also-good").unwrap().line, 13);
        for e in &errors {
            assert!(e.to_string().starts_with(&format!("line {}: ", e.line)), "{e}");
        }
    }

    #[test]
    fn duplicates_of_every_kind() {
        let (hosts, errors) = Hosts::parse(
            b"1.2.3.4 fe80::1\n1.2.3.4 fe80::2\n::1 fe80::1\n::0:1 fe80::2\nn fe80::1\nn fe80::1\n",
        );
        assert_eq!(hosts.len(), 3);
        let dups: Vec<_> = errors.iter().map(|e| (e.line, e.kind.clone())).collect();
        assert_eq!(
            dups,
            vec![
                (2, HostsErrorKind::Duplicate { first_line: 1 }),
                (4, HostsErrorKind::Duplicate { first_line: 3 }),
                (6, HostsErrorKind::Duplicate { first_line: 5 }),
            ]
        );
        assert_eq!(hosts.by_gid(g("fe80::1")).count(), 3);
    }

    #[test]
    fn name_limit_is_the_acm_field() {
        let ok = format!("{} fe80::1\n", "n".repeat(MAX_NAME_LEN));
        assert_eq!(Hosts::parse(ok.as_bytes()).0.len(), 1);
    }

    #[test]
    fn endpoint_lookups() {
        let (hosts, _) = Hosts::parse(b"host1 fe80::1\n10.0.0.2 fe80::2\nfe80::a fe80::3\n");
        assert_eq!(hosts.lookup_endpoint(&Endpoint::Name("HOST1".into())).unwrap().gid, g("fe80::1"));
        assert_eq!(
            hosts.lookup_endpoint(&Endpoint::Ipv4("10.0.0.2".parse().unwrap())).unwrap().gid,
            g("fe80::2")
        );
        assert_eq!(
            hosts.lookup_endpoint(&Endpoint::Ipv6("fe80::a".parse().unwrap())).unwrap().gid,
            g("fe80::3")
        );
        assert_eq!(hosts.lookup_endpoint(&Endpoint::Gid(g("fe80::1"))), None);
        assert_eq!(hosts.lookup_endpoint(&Endpoint::Lid(1)), None);
        assert_eq!(hosts.lookup_endpoint(&Endpoint::Name("nobody".into())), None);
    }

    #[test]
    fn load_reads_a_file() {
        let path = std::env::temp_dir().join(format!("localsa-hosts-{}", std::process::id()));
        std::fs::write(&path, "a fe80::1\nb\n").unwrap();
        let (hosts, errors) = Hosts::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((hosts.len(), errors.len()), (1, 1));
        assert!(Hosts::load(&path).is_err());
        assert!(Hosts::default().is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (hosts, errors) = Hosts::parse(&bytes);
            let lines = bytes.split(|&b| b == b'\n').count();
            prop_assert!(hosts.len() + errors.len() <= lines);
            for e in &errors {
                prop_assert!(e.line >= 1 && e.line <= lines);
            }
        }

        #[test]
        fn written_entries_read_back(
            entries in proptest::collection::vec(
                ("[a-z][a-z0-9-]{0,20}", any::<[u8; 16]>(), proptest::option::of((0u32..=MAX_QPN, proptest::option::of(0u8..4)))),
                0..20,
            )
        ) {
            let mut text = String::new();
            for (name, gid, extra) in &entries {
                text.push_str(&format!("{name} {}", Ipv6Addr::from(*gid)));
                if let Some((qpn, flags)) = extra {
                    text.push_str(&format!(" {qpn:#x}"));
                    if let Some(f) = flags {
                        text.push_str(&format!(" {}", f << 6));
                    }
                }
                text.push('\n');
            }
            let (hosts, errors) = Hosts::parse(text.as_bytes());
            let mut seen = std::collections::HashSet::new();
            for (i, (name, gid, extra)) in entries.iter().enumerate() {
                if seen.insert(name.clone()) {
                    let e = hosts.by_name(name).unwrap();
                    prop_assert_eq!(e.gid, Gid(*gid));
                    prop_assert_eq!(e.line, i + 1);
                    prop_assert_eq!(e.qpn, extra.map(|x| x.0));
                    prop_assert_eq!(e.flags, extra.and_then(|x| x.1).map(|f| HostFlags(f << 6)));
                }
            }
            prop_assert_eq!(hosts.len(), seen.len());
            prop_assert_eq!(errors.len(), entries.len() - seen.len());
        }
    }
}
