//! Value encodings shared by PathRecord, MultiPathRecord and MCMemberRecord: the selector that
//! qualifies a value in a query, MTU, rate and packet lifetime codes.

use crate::time::Duration;

open_enum! {
    /// How a query's MTU, rate or packet-lifetime value is to be compared (IBA 15.2.5.16).
    pub enum Selector(u8) {
        /// Strictly greater than the value.
        GreaterThan = 0 => "greater than",
        /// Strictly less than the value.
        LessThan = 1 => "less than",
        /// Exactly the value.
        Exactly = 2 => "exactly",
        /// The largest available (MTU, rate) or smallest available (packet lifetime); the value
        /// is ignored.
        Largest = 3 => "largest available",
    }
}

open_enum! {
    /// A 6-bit MTU code.
    pub enum Mtu(u8) {
        /// 256 bytes.
        Mtu256 = 1 => "256",
        /// 512 bytes.
        Mtu512 = 2 => "512",
        /// 1024 bytes.
        Mtu1024 = 3 => "1024",
        /// 2048 bytes.
        Mtu2048 = 4 => "2048",
        /// 4096 bytes.
        Mtu4096 = 5 => "4096",
    }
}

impl Mtu {
    /// The MTU in bytes, or `None` for an unknown code.
    pub const fn bytes(self) -> Option<u16> {
        match self {
            Mtu::Mtu256 => Some(256),
            Mtu::Mtu512 => Some(512),
            Mtu::Mtu1024 => Some(1024),
            Mtu::Mtu2048 => Some(2048),
            Mtu::Mtu4096 => Some(4096),
            Mtu::Unknown(_) => None,
        }
    }

    /// A key that orders MTUs by size. Codes grow with size, so it is the code itself.
    pub const fn order_key(self) -> u32 {
        self.raw() as u32
    }
}

open_enum! {
    /// A 6-bit static rate code. Codes are not in speed order (5 Gb/s is code 5, 10 Gb/s code 3):
    /// compare with [`Rate::order_key`].
    pub enum Rate(u8) {
        /// 2.5 Gb/s.
        Gbps2_5 = 2 => "2.5 Gb/s",
        /// 10 Gb/s.
        Gbps10 = 3 => "10 Gb/s",
        /// 30 Gb/s.
        Gbps30 = 4 => "30 Gb/s",
        /// 5 Gb/s.
        Gbps5 = 5 => "5 Gb/s",
        /// 20 Gb/s.
        Gbps20 = 6 => "20 Gb/s",
        /// 40 Gb/s.
        Gbps40 = 7 => "40 Gb/s",
        /// 60 Gb/s.
        Gbps60 = 8 => "60 Gb/s",
        /// 80 Gb/s.
        Gbps80 = 9 => "80 Gb/s",
        /// 120 Gb/s.
        Gbps120 = 10 => "120 Gb/s",
        /// 14 Gb/s.
        Gbps14 = 11 => "14 Gb/s",
        /// 56 Gb/s.
        Gbps56 = 12 => "56 Gb/s",
        /// 112 Gb/s.
        Gbps112 = 13 => "112 Gb/s",
        /// 168 Gb/s.
        Gbps168 = 14 => "168 Gb/s",
        /// 25 Gb/s.
        Gbps25 = 15 => "25 Gb/s",
        /// 100 Gb/s.
        Gbps100 = 16 => "100 Gb/s",
        /// 200 Gb/s.
        Gbps200 = 17 => "200 Gb/s",
        /// 300 Gb/s.
        Gbps300 = 18 => "300 Gb/s",
        /// 28 Gb/s.
        Gbps28 = 19 => "28 Gb/s",
        /// 50 Gb/s.
        Gbps50 = 20 => "50 Gb/s",
        /// 400 Gb/s.
        Gbps400 = 21 => "400 Gb/s",
        /// 600 Gb/s.
        Gbps600 = 22 => "600 Gb/s",
    }
}

impl Rate {
    /// The data rate in units of 0.5 Gb/s, or `None` for an unknown code.
    pub const fn half_gbps(self) -> Option<u32> {
        Some(match self {
            Rate::Gbps2_5 => 5,
            Rate::Gbps5 => 10,
            Rate::Gbps10 => 20,
            Rate::Gbps14 => 28,
            Rate::Gbps20 => 40,
            Rate::Gbps25 => 50,
            Rate::Gbps28 => 56,
            Rate::Gbps30 => 60,
            Rate::Gbps40 => 80,
            Rate::Gbps50 => 100,
            Rate::Gbps56 => 112,
            Rate::Gbps60 => 120,
            Rate::Gbps80 => 160,
            Rate::Gbps100 => 200,
            Rate::Gbps112 => 224,
            Rate::Gbps120 => 240,
            Rate::Gbps168 => 336,
            Rate::Gbps200 => 400,
            Rate::Gbps300 => 600,
            Rate::Gbps400 => 800,
            Rate::Gbps600 => 1200,
            Rate::Unknown(_) => return None,
        })
    }

    /// A key that orders rates as OpenSM's SA compares them for the rate selector
    /// (`ordered_rates[]` in `libopensm/osm_helper.c`, used by `ib_path_compare_rates`).
    ///
    /// That order is by effective data rate, not by the nominal figure: the 64b/66b-encoded
    /// 25, 28, 50, 56, 100 and 112 Gb/s rates rank above the 8b/10b-encoded 30, 60 and 120 Gb/s
    /// (OpenSM's "equiv" column: 25 Gb/s counts as 31.25). Unknown codes sort below every known
    /// rate, ordered among themselves by code.
    pub const fn order_key(self) -> u32 {
        let rank = match self {
            Rate::Gbps2_5 => 1,
            Rate::Gbps5 => 2,
            Rate::Gbps10 => 3,
            Rate::Gbps14 => 4,
            Rate::Gbps20 => 5,
            Rate::Gbps30 => 6,
            Rate::Gbps25 => 7,
            Rate::Gbps28 => 8,
            Rate::Gbps40 => 9,
            Rate::Gbps60 => 10,
            Rate::Gbps50 => 11,
            Rate::Gbps56 => 12,
            Rate::Gbps80 => 13,
            Rate::Gbps120 => 14,
            Rate::Gbps100 => 15,
            Rate::Gbps112 => 16,
            Rate::Gbps168 => 17,
            Rate::Gbps200 => 18,
            Rate::Gbps300 => 19,
            Rate::Gbps400 => 20,
            Rate::Gbps600 => 21,
            Rate::Unknown(code) => return code as u32,
        };
        0x100 + rank
    }
}

/// A 6-bit packet lifetime code: the lifetime is 4.096 µs × 2^code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PacketLifetime(pub u8);

impl PacketLifetime {
    /// The lifetime as a duration.
    pub const fn duration(self) -> Duration {
        Duration::from_ib_time_exponent(self.0)
    }

    /// A key that orders lifetimes: the code grows with the lifetime.
    pub const fn order_key(self) -> u32 {
        self.0 as u32
    }
}

/// A selector and the 6-bit value it qualifies, as packed in one byte of a record.
pub(crate) const fn split_selector_byte(byte: u8) -> (Selector, u8) {
    (Selector::from_raw(byte >> 6), byte & 0x3f)
}

/// Packs a selector and a 6-bit value into one byte; fails if either overflows.
pub(crate) const fn join_selector_byte(
    field: &'static str,
    selector: Selector,
    value: u8,
) -> super::Result<u8> {
    if selector.raw() > 3 || value > 0x3f {
        return Err(super::Error::FieldOverflow { field });
    }
    Ok((selector.raw() << 6) | value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_order_is_by_speed_not_code() {
        assert!(Rate::Gbps5.order_key() < Rate::Gbps10.order_key());
        assert!(Rate::Gbps14.order_key() < Rate::Gbps20.order_key());
        assert!(Rate::Gbps600.order_key() > Rate::Gbps400.order_key());
        assert!(Rate::Unknown(40).order_key() < Rate::Gbps2_5.order_key());
        let mut keys: std::vec::Vec<u32> = (2..=22).map(|c| Rate::from_raw(c).order_key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 21, "every known rate has a distinct speed");
    }

    #[test]
    fn rate_order_is_opensms() {
        // libopensm/osm_helper.c ordered_rates[], indexed by code 2..=22.
        const ORDERED_RATES: [u32; 21] =
            [1, 3, 6, 2, 5, 9, 10, 13, 14, 4, 12, 16, 17, 7, 15, 18, 19, 8, 11, 20, 21];
        for (i, rank) in ORDERED_RATES.iter().enumerate() {
            assert_eq!(Rate::from_raw(i as u8 + 2).order_key(), 0x100 + rank, "code {}", i + 2);
        }
        assert!(Rate::Gbps25.order_key() > Rate::Gbps30.order_key());
        assert!(Rate::Gbps100.order_key() > Rate::Gbps120.order_key());
    }

    #[test]
    fn selector_byte() {
        assert_eq!(split_selector_byte(0x84), (Selector::Exactly, 4));
        assert_eq!(join_selector_byte("mtu", Selector::Exactly, 4), Ok(0x84));
        assert!(join_selector_byte("mtu", Selector::Exactly, 64).is_err());
        assert!(join_selector_byte("mtu", Selector::Unknown(4), 1).is_err());
    }

    #[test]
    fn packet_lifetime() {
        assert_eq!(PacketLifetime(18).duration().as_micros(), 1_073_741);
    }
}
