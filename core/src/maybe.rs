//! `Maybe<T>`: an optional value whose empty state is zero bytes.
//!
//! `Option<T>` may encode `None` in a niche of `T` (a `bool` field's 2, an enum's spare tag),
//! so an array of empty `Option`s can hold non-zero bytes. Then a `static` holding an empty
//! engine lands in `.data` (copied from flash at boot) instead of `.bss`, which on a
//! microcontroller costs as much flash as RAM. `Maybe` has an explicit `u8` tag whose empty
//! value is 0, and the few `Option` methods the crate uses.

/// An optional value with an all-zero empty state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Maybe<T> {
    /// No value.
    Empty = 0,
    /// A value.
    Full(T) = 1,
}

impl<T> Maybe<T> {
    pub(crate) const fn is_none(&self) -> bool {
        matches!(self, Maybe::Empty)
    }

    pub(crate) fn is_some_and(&self, f: impl FnOnce(&T) -> bool) -> bool {
        match self {
            Maybe::Full(v) => f(v),
            Maybe::Empty => false,
        }
    }

    pub(crate) fn is_none_or(&self, f: impl FnOnce(&T) -> bool) -> bool {
        match self {
            Maybe::Full(v) => f(v),
            Maybe::Empty => true,
        }
    }

    pub(crate) const fn as_ref(&self) -> Option<&T> {
        match self {
            Maybe::Full(v) => Some(v),
            Maybe::Empty => None,
        }
    }

    pub(crate) fn as_mut(&mut self) -> Option<&mut T> {
        match self {
            Maybe::Full(v) => Some(v),
            Maybe::Empty => None,
        }
    }

    /// Takes the value out, leaving the slot empty.
    pub(crate) fn take(&mut self) -> Option<T> {
        match core::mem::replace(self, Maybe::Empty) {
            Maybe::Full(v) => Some(v),
            Maybe::Empty => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Maybe;

    #[test]
    fn behaves_like_option() {
        let mut m: Maybe<(u8, bool)> = Maybe::Empty;
        assert!(m.is_none() && m.is_none_or(|_| false) && !m.is_some_and(|_| true));
        m = Maybe::Full((3, true));
        if let Some(v) = m.as_mut() {
            *v = (4, false);
        }
        assert_eq!(m.as_ref(), Some(&(4, false)));
        assert!(m.is_some_and(|v| v.0 == 4));
        assert_eq!(m.take(), Some((4, false)));
        assert!(m.is_none());
    }
}
