//! Engine tokens: which client asked, so that an answer finds its way back, and does not
//! find its way to a different client that happens to reuse the slot.
//!
//! ```text
//!  63        48 47        32 31                       0
//! +------------+------------+--------------------------+
//! |    slot    | generation |        request id        |
//! +------------+------------+--------------------------+
//! ```
//!
//! A slot is reused when its client goes; its generation changes then, so a late answer for
//! the old client decodes to a (slot, generation) that no longer matches and is dropped. The
//! request id counts per connection and names the request inside the client's table.

use localsa_core::engine::Token;

/// The most client slots a token can name.
pub const MAX_SLOTS: usize = 1 << 16;

/// A token's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenParts {
    /// Client slot.
    pub slot: u16,
    /// The slot's generation when the request was made.
    pub generation: u16,
    /// The request, per connection.
    pub request: u32,
}

impl TokenParts {
    /// Packs into an engine token.
    pub const fn encode(self) -> Token {
        ((self.slot as u64) << 48) | ((self.generation as u64) << 32) | self.request as u64
    }

    /// Unpacks an engine token.
    pub const fn decode(token: Token) -> TokenParts {
        TokenParts { slot: (token >> 48) as u16, generation: (token >> 32) as u16, request: token as u32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = TokenParts { slot: 0xfffe, generation: 7, request: 0xdead_beef };
        assert_eq!(TokenParts::decode(t.encode()), t);
        assert_ne!(TokenParts { generation: 8, ..t }.encode(), t.encode());
    }
}
