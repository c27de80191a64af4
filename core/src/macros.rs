//! Crate-internal macros: logging that compiles to `defmt`, `log` or nothing, and open enums.

/// Logs through `defmt` (feature `defmt`), the `log` facade (feature `log`), or nowhere.
///
/// Arguments must implement both `defmt::Format` and `core::fmt::Display`/`Debug` as the
/// format string asks when both features are on; with neither they are only evaluated.
#[allow(unused_macros)]
macro_rules! core_log {
    ($level:ident, $($arg:expr),* $(,)?) => {{
        #[cfg(feature = "defmt")]
        defmt::$level!($($arg),*);
        #[cfg(all(feature = "log", not(feature = "defmt")))]
        log::$level!($($arg),*);
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        { $( let _ = &$arg; )* }
    }};
}

#[allow(unused_macros)]
macro_rules! trace { ($($arg:expr),* $(,)?) => { core_log!(trace, $($arg),*) }; }
#[allow(unused_macros)]
macro_rules! debug { ($($arg:expr),* $(,)?) => { core_log!(debug, $($arg),*) }; }
#[allow(unused_macros)]
macro_rules! info { ($($arg:expr),* $(,)?) => { core_log!(info, $($arg),*) }; }
#[allow(unused_macros)]
macro_rules! warn { ($($arg:expr),* $(,)?) => { core_log!(warn, $($arg),*) }; }

/// Declares a protocol enum over an integer that keeps values it does not know.
///
/// Every variant gets a `name()` for printing; unknown values become `Unknown(raw)` so that
/// decoding never rejects a value a newer peer may send, and re-encoding gives back the same raw
/// value.
macro_rules! open_enum {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:expr => $text:expr ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        // An explicit tag: the first variant is tag 0, so a zeroed value is that variant and
        // structures holding these enums can be all-zero `static`s (in .bss).
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
            /// A value this crate has no name for, kept as it was on the wire.
            Unknown($ty),
        }

        impl $name {
            /// The raw value as it goes on the wire.
            pub const fn raw(self) -> $ty {
                match self {
                    $( $name::$variant => $value, )+
                    $name::Unknown(v) => v,
                }
            }

            /// The value for a raw wire value; unknown values are kept.
            pub const fn from_raw(raw: $ty) -> Self {
                match raw {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }

            /// A short human-readable name, or `None` for an unknown value.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($text), )+
                    $name::Unknown(_) => None,
                }
            }
        }

        impl From<$ty> for $name {
            fn from(raw: $ty) -> Self {
                Self::from_raw(raw)
            }
        }

        impl From<$name> for $ty {
            fn from(v: $name) -> Self {
                v.raw()
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "unknown({:#x})", self.raw()),
                }
            }
        }
    };
}

/// The [`SaAttribute`](crate::wire::SaAttribute) impl shared by every attribute whose wire form
/// is one fixed-layout `Record` that `Repr::parse` reads and `Repr::emit` writes, and the
/// `defmt` format of that layout (printed as its repr). Expects `Record`, `Repr` and the
/// attribute's `LEN` in scope.
macro_rules! fixed_layout_attribute {
    ($id:expr) => {
        impl $crate::wire::SaAttribute for Repr {
            const ID: $crate::wire::AttributeId = $id;
            const LEN: usize = LEN;

            fn decode(bytes: &[u8]) -> $crate::wire::Result<Self> {
                $crate::wire::record::view::<Record>(Self::ID, bytes).map(Repr::parse)
            }

            fn encode(&self, out: &mut [u8]) -> $crate::wire::Result<usize> {
                self.emit($crate::wire::record::view_mut::<Record>(out)?)?;
                Ok(LEN)
            }
        }

        #[cfg(feature = "defmt")]
        impl defmt::Format for Record {
            fn format(&self, f: defmt::Formatter) {
                defmt::write!(f, "{}", Repr::parse(self))
            }
        }
    };
}

/// `defmt::Format` for a bitflags type: its name and its bits in hex.
macro_rules! defmt_bits {
    ($ty:ident) => {
        #[cfg(feature = "defmt")]
        impl defmt::Format for $ty {
            fn format(&self, f: defmt::Formatter) {
                defmt::write!(f, "{=str}({=u64:#x})", stringify!($ty), self.bits() as u64)
            }
        }
    };
}
