//! Turning `decode` input into bytes: hex text with any separators, or raw bytes.

use std::fmt;

/// Why input text is not hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HexError {
    /// A character that is neither a hex digit nor a separator.
    BadCharacter { offset: usize, found: char },
    /// A byte with only one digit (an odd run of digits).
    OddDigits { offset: usize },
    /// No bytes at all.
    Empty,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::BadCharacter { offset, found } => {
                write!(f, "not hex: {found:?} at character {offset}")
            }
            HexError::OddDigits { offset } => {
                write!(f, "odd number of hex digits in the group ending at {offset}")
            }
            HexError::Empty => f.write_str("no bytes in input"),
        }
    }
}

impl std::error::Error for HexError {}

/// Whether `input` looks like hex text rather than a raw MAD: only hex digits, separators and
/// optional `0x` prefixes. A raw MAD starts with BaseVersion 0x01, never a printable digit.
pub fn looks_like_hex(input: &[u8]) -> bool {
    !input.is_empty()
        && input.iter().all(|&b| b.is_ascii_hexdigit() || is_separator(b) || b == b'x' || b == b'X')
        && input.iter().any(|b| b.is_ascii_hexdigit())
}

fn is_separator(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b':' | b',' | b'-' | b'.')
}

/// Parses hex text: groups of digits separated by whitespace or `:,-.`, each group an even
/// number of digits (so `0103 0281` and `01 03 02 81` read the same), optional `0x` prefixes.
pub fn parse(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut group_start = 0;
    let mut pending: Option<u8> = None;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '0'
            && pending.is_none()
            && matches!(chars.get(i + 1), Some('x' | 'X'))
            && at_group_start(&chars, i)
        {
            i += 2;
            continue;
        }
        if let Some(d) = c.to_digit(16) {
            if pending.is_none() && at_group_start(&chars, i) {
                group_start = i;
            }
            match pending.take() {
                None => pending = Some(d as u8),
                Some(hi) => out.push((hi << 4) | d as u8),
            }
        } else if c.is_ascii() && is_separator(c as u8) {
            if pending.is_some() {
                return Err(HexError::OddDigits { offset: group_start.max(i.saturating_sub(1)) });
            }
        } else {
            return Err(HexError::BadCharacter { offset: i, found: c });
        }
        i += 1;
    }
    if pending.is_some() {
        return Err(HexError::OddDigits { offset: chars.len() });
    }
    if out.is_empty() {
        return Err(HexError::Empty);
    }
    Ok(out)
}

fn at_group_start(chars: &[char], i: usize) -> bool {
    i == 0 || chars.get(i - 1).is_some_and(|&p| p.is_ascii() && is_separator(p as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_layouts() {
        assert_eq!(parse("01 03 02 81").unwrap(), [1, 3, 2, 0x81]);
        assert_eq!(parse("0103\n0281\n").unwrap(), [1, 3, 2, 0x81]);
        assert_eq!(parse("0x01,0x03:0X02-81").unwrap(), [1, 3, 2, 0x81]);
        assert_eq!(parse("  ab\tCD  ").unwrap(), [0xab, 0xcd]);
    }

    #[test]
    fn rejects_garbage_with_a_position() {
        assert_eq!(parse("01 0g"), Err(HexError::BadCharacter { offset: 4, found: 'g' }));
        assert!(matches!(parse("01 3 02"), Err(HexError::OddDigits { .. })));
        assert!(matches!(parse("013"), Err(HexError::OddDigits { .. })));
        assert_eq!(parse("  \n"), Err(HexError::Empty));
        assert!(matches!(parse("é"), Err(HexError::BadCharacter { .. })));
    }

    #[test]
    fn detects_hex_versus_raw() {
        assert!(looks_like_hex(b"01 03 02 81\n"));
        assert!(!looks_like_hex(&[0x01, 0x03, 0x02, 0x81]));
        assert!(!looks_like_hex(b"\n\n"));
    }
}
