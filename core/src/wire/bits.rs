//! Sub-byte field access: read and replace `width` bits at `shift` within a word.
//!
//! IBA packs many fields below byte granularity (FlowLabel is 20 bits, SL 4, selectors 2). These
//! helpers keep every accessor a one-liner and make the bit positions visible at the call site.

/// The `width`-bit field starting `shift` bits above the least significant bit of `word`.
#[inline]
pub(crate) const fn get(word: u32, shift: u32, width: u32) -> u32 {
    (word >> shift) & mask(width)
}

/// `word` with the `width`-bit field at `shift` replaced by `value` (excess high bits dropped).
#[inline]
pub(crate) const fn set(word: u32, shift: u32, width: u32, value: u32) -> u32 {
    let m = mask(width) << shift;
    (word & !m) | ((value << shift) & m)
}

#[inline]
const fn mask(width: u32) -> u32 {
    if width >= 32 {
        u32::MAX
    } else {
        (1u32 << width) - 1
    }
}

/// Fails with [`super::Error::FieldOverflow`] when `value` needs more than `width` bits.
#[inline]
pub(crate) const fn fits(field: &'static str, value: u32, width: u32) -> super::Result<()> {
    if width < 32 && value >> width != 0 {
        Err(super::Error::FieldOverflow { field })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn get_and_set() {
        let w = 0x8123_45ff;
        assert_eq!(super::get(w, 31, 1), 1);
        assert_eq!(super::get(w, 8, 20), 0x12345);
        assert_eq!(super::get(w, 0, 8), 0xff);
        assert_eq!(super::set(w, 8, 20, 0xabcde), 0x8abc_deff);
        assert_eq!(super::set(0, 0, 32, 0xdead_beef), 0xdead_beef);
        assert!(super::fits("x", 0xf, 4).is_ok());
        assert!(super::fits("x", 0x10, 4).is_err());
    }
}
