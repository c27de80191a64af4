//! The 128-bit Global Identifier and the GUID inside it.

use core::fmt;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// A GID: 64-bit subnet prefix followed by the 64-bit port GUID, in network order.
///
/// Printed the way `saquery` and `inet_ntop` print it: as an IPv6 address (`fe80::2:c903:0:1`).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(transparent)]
pub struct Gid(pub [u8; 16]);

impl Gid {
    /// The all-zero GID (a wildcard in queries).
    pub const ZERO: Gid = Gid([0; 16]);

    /// A GID from its subnet prefix and interface GUID.
    pub const fn new(prefix: u64, guid: u64) -> Self {
        let p = prefix.to_be_bytes();
        let g = guid.to_be_bytes();
        Gid([p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]])
    }

    /// The upper 64 bits: the subnet prefix.
    pub const fn prefix(&self) -> u64 {
        let b = &self.0;
        u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// The lower 64 bits: the port GUID.
    pub const fn guid(&self) -> u64 {
        let b = &self.0;
        u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
    }

    /// Whether every byte is zero.
    pub const fn is_zero(&self) -> bool {
        self.prefix() == 0 && self.guid() == 0
    }

    /// Parses the IPv6-style text form (`fe80::2:c903:0:1`, full or `::`-compressed).
    pub fn parse(text: &str) -> Option<Gid> {
        let mut words = [0u16; 8];
        let (head, tail) = match text.find("::") {
            Some(i) => (&text[..i], Some(&text[i + 2..])),
            None => (text, None),
        };
        let mut n_head = 0;
        if !head.is_empty() {
            for part in head.split(':') {
                if n_head == 8 {
                    return None;
                }
                words[n_head] = parse_word(part)?;
                n_head += 1;
            }
        }
        match tail {
            None => {
                if n_head != 8 {
                    return None;
                }
            }
            Some(tail) => {
                let mut rest = [0u16; 8];
                let mut n_tail = 0;
                if !tail.is_empty() {
                    for part in tail.split(':') {
                        if n_tail == 8 {
                            return None;
                        }
                        rest[n_tail] = parse_word(part)?;
                        n_tail += 1;
                    }
                }
                // "::" stands for at least one zero word.
                if n_head + n_tail > 7 {
                    return None;
                }
                words[8 - n_tail..].copy_from_slice(&rest[..n_tail]);
            }
        }
        let mut out = [0u8; 16];
        for (i, w) in words.iter().enumerate() {
            out[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
        }
        Some(Gid(out))
    }

    fn words(&self) -> [u16; 8] {
        let mut w = [0u16; 8];
        for (i, word) in w.iter_mut().enumerate() {
            *word = u16::from_be_bytes([self.0[2 * i], self.0[2 * i + 1]]);
        }
        w
    }
}

fn parse_word(part: &str) -> Option<u16> {
    if part.is_empty() || part.len() > 4 {
        return None;
    }
    u16::from_str_radix(part, 16).ok()
}

impl fmt::Display for Gid {
    /// RFC 5952 text: the longest run of two or more zero words becomes `::`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.words();
        let (mut best_start, mut best_len) = (8, 0);
        let mut i = 0;
        while i < 8 {
            if w[i] == 0 {
                let start = i;
                while i < 8 && w[i] == 0 {
                    i += 1;
                }
                if i - start > best_len {
                    best_start = start;
                    best_len = i - start;
                }
            } else {
                i += 1;
            }
        }
        if best_len < 2 {
            best_start = 8;
            best_len = 0;
        }
        let mut i = 0;
        while i < 8 {
            if i == best_start {
                f.write_str("::")?;
                i += best_len;
                continue;
            }
            if i != 0 && i != best_start + best_len {
                f.write_str(":")?;
            }
            write!(f, "{:x}", w[i])?;
            i += 1;
        }
        Ok(())
    }
}

impl fmt::Debug for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gid({self})")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Gid {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "{=u64:#x}:{=u64:#x}", self.prefix(), self.guid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn prints_like_inet_ntop() {
        let g = Gid::new(0xfe80_0000_0000_0000, 0x0002_c903_0000_0001);
        assert_eq!(g.to_string(), "fe80::2:c903:0:1");
        assert_eq!(Gid::ZERO.to_string(), "::");
        assert_eq!(Gid::new(0, 1).to_string(), "::1");
        assert_eq!(Gid::new(0xfe80_0000_0000_0000, 0).to_string(), "fe80::");
        assert_eq!(Gid::new(0x0001_0002_0003_0004, 0x0005_0006_0007_0008).to_string(), "1:2:3:4:5:6:7:8");
        // A single zero word is not compressed; the first of two equal runs is.
        assert_eq!(Gid::new(0x0001_0000_0003_0004, 0x0005_0006_0007_0008).to_string(), "1:0:3:4:5:6:7:8");
        assert_eq!(Gid::new(0x0001_0000_0000_0004, 0x0005_0000_0000_0008).to_string(), "1::4:5:0:0:8");
    }

    #[test]
    fn parses_what_it_prints() {
        for g in [
            Gid::ZERO,
            Gid::new(0xfe80_0000_0000_0000, 0x0002_c903_0000_0001),
            Gid::new(0x0001_0000_0000_0004, 0x0005_0000_0000_0008),
            Gid::new(u64::MAX, u64::MAX),
        ] {
            assert_eq!(Gid::parse(&g.to_string()), Some(g));
        }
        assert_eq!(Gid::parse("fe80:0:0:0:2:c903:0:1"), Some(Gid::new(0xfe80 << 48, 0x0002_c903_0000_0001)));
        for bad in ["", ":", "1:2", "fe80::1::2", "12345::", "g::", "1:2:3:4:5:6:7:8:9", "1:2:3:4::5:6:7:8"] {
            assert_eq!(Gid::parse(bad), None, "{bad}");
        }
    }
}
