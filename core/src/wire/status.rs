//! The MAD Status field: common bits and the SA's class-specific codes, as named errors.

use core::fmt;

open_enum! {
    /// The 3-bit common code in Status bits 2..=4 (IBA 13.4.7).
    pub enum MadStatusCode(u8) {
        /// No error.
        Ok = 0 => "ok",
        /// Unsupported base or class version.
        BadVersion = 1 => "bad version",
        /// Method not supported.
        MethodUnsupported = 2 => "method not supported",
        /// Method/attribute combination not supported.
        MethodAttributeUnsupported = 3 => "method/attribute combination not supported",
        /// Invalid value in one or more fields of the attribute or modifier.
        InvalidField = 7 => "invalid attribute or modifier field",
    }
}

open_enum! {
    /// The SA's class-specific code in Status bits 8..=15 (IBA 15.2.1.1).
    pub enum SaStatusCode(u8) {
        /// No error.
        Success = 0 => "success",
        /// Insufficient resources to complete the request.
        NoResources = 1 => "ERR_NO_RESOURCES",
        /// The request is invalid.
        RequestInvalid = 2 => "ERR_REQ_INVALID",
        /// No records match the query.
        NoRecords = 3 => "ERR_NO_RECORDS",
        /// More than one record matches a Get.
        TooManyRecords = 4 => "ERR_TOO_MANY_RECORDS",
        /// A GID in the request is invalid.
        InvalidGid = 5 => "ERR_REQ_INVALID_GID",
        /// The request has too few components to be answered.
        InsufficientComponents = 6 => "ERR_REQ_INSUFFICIENT_COMPONENTS",
        /// The request was denied (e.g. not authorised).
        Denied = 7 => "ERR_REQ_DENIED",
        /// A priority other than the one asked for is suggested.
        PrioritySuggested = 8 => "ERR_REQ_PRIORITY_SUGGESTED",
    }
}

/// The 16-bit Status field of the MAD common header, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MadStatus(pub u16);

impl MadStatus {
    /// Success.
    pub const OK: MadStatus = MadStatus(0);

    /// Bit 0: the responder is busy; retry later.
    pub const fn busy(self) -> bool {
        self.0 & 0x0001 != 0
    }

    /// Bit 1: redirection required (see ClassPortInfo).
    pub const fn redirect(self) -> bool {
        self.0 & 0x0002 != 0
    }

    /// Bits 2..=4: the common code.
    pub const fn code(self) -> MadStatusCode {
        MadStatusCode::from_raw(((self.0 >> 2) & 0x7) as u8)
    }

    /// Bits 8..=15: the SA class-specific code.
    pub const fn sa_code(self) -> SaStatusCode {
        SaStatusCode::from_raw((self.0 >> 8) as u8)
    }

    /// A status with the given SA code and common code.
    pub const fn from_parts(code: MadStatusCode, sa: SaStatusCode) -> MadStatus {
        MadStatus(((sa.raw() as u16) << 8) | (((code.raw() & 0x7) as u16) << 2))
    }

    /// The status as a result: `Ok` for 0, the most specific named error otherwise.
    pub const fn check(self) -> Result<(), SaError> {
        if self.0 == 0 {
            return Ok(());
        }
        if self.busy() {
            return Err(SaError::Busy);
        }
        if self.redirect() {
            return Err(SaError::Redirect);
        }
        match self.sa_code() {
            SaStatusCode::Success => {}
            SaStatusCode::NoResources => return Err(SaError::NoResources),
            SaStatusCode::RequestInvalid => return Err(SaError::RequestInvalid),
            SaStatusCode::NoRecords => return Err(SaError::NoRecords),
            SaStatusCode::TooManyRecords => return Err(SaError::TooManyRecords),
            SaStatusCode::InvalidGid => return Err(SaError::InvalidGid),
            SaStatusCode::InsufficientComponents => return Err(SaError::InsufficientComponents),
            SaStatusCode::Denied => return Err(SaError::Denied),
            SaStatusCode::PrioritySuggested => return Err(SaError::PrioritySuggested),
            SaStatusCode::Unknown(c) => return Err(SaError::UnknownSaCode(c)),
        }
        match self.code() {
            MadStatusCode::Ok => Err(SaError::UnknownStatus(self.0)),
            MadStatusCode::BadVersion => Err(SaError::BadVersion),
            MadStatusCode::MethodUnsupported => Err(SaError::MethodUnsupported),
            MadStatusCode::MethodAttributeUnsupported => Err(SaError::MethodAttributeUnsupported),
            MadStatusCode::InvalidField => Err(SaError::InvalidField),
            MadStatusCode::Unknown(_) => Err(SaError::UnknownStatus(self.0)),
        }
    }
}

/// A non-success MAD status from the SA, one variant per meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SaError {
    /// The SA is busy (Status bit 0); back off and retry.
    Busy,
    /// The SA redirects the request elsewhere (Status bit 1).
    Redirect,
    /// Unsupported base or class version.
    BadVersion,
    /// The method is not supported.
    MethodUnsupported,
    /// The method/attribute combination is not supported.
    MethodAttributeUnsupported,
    /// A field of the request is invalid.
    InvalidField,
    /// ERR_NO_RESOURCES.
    NoResources,
    /// ERR_REQ_INVALID.
    RequestInvalid,
    /// ERR_NO_RECORDS: nothing matches; a definite "no path".
    NoRecords,
    /// ERR_TOO_MANY_RECORDS.
    TooManyRecords,
    /// ERR_REQ_INVALID_GID.
    InvalidGid,
    /// ERR_REQ_INSUFFICIENT_COMPONENTS.
    InsufficientComponents,
    /// ERR_REQ_DENIED.
    Denied,
    /// ERR_REQ_PRIORITY_SUGGESTED.
    PrioritySuggested,
    /// An SA class-specific code this crate does not know.
    UnknownSaCode(u8),
    /// A status whose bits fit no known meaning.
    UnknownStatus(u16),
}

impl fmt::Display for SaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaError::Busy => f.write_str("SA busy"),
            SaError::Redirect => f.write_str("SA redirects the request"),
            SaError::BadVersion => f.write_str("unsupported version"),
            SaError::MethodUnsupported => f.write_str("method not supported"),
            SaError::MethodAttributeUnsupported => f.write_str("method/attribute combination not supported"),
            SaError::InvalidField => f.write_str("invalid field in request"),
            SaError::NoResources => f.write_str("ERR_NO_RESOURCES"),
            SaError::RequestInvalid => f.write_str("ERR_REQ_INVALID"),
            SaError::NoRecords => f.write_str("ERR_NO_RECORDS"),
            SaError::TooManyRecords => f.write_str("ERR_TOO_MANY_RECORDS"),
            SaError::InvalidGid => f.write_str("ERR_REQ_INVALID_GID"),
            SaError::InsufficientComponents => f.write_str("ERR_REQ_INSUFFICIENT_COMPONENTS"),
            SaError::Denied => f.write_str("ERR_REQ_DENIED"),
            SaError::PrioritySuggested => f.write_str("ERR_REQ_PRIORITY_SUGGESTED"),
            SaError::UnknownSaCode(c) => write!(f, "unknown SA status code {c}"),
            SaError::UnknownStatus(s) => write!(f, "unknown MAD status {s:#06x}"),
        }
    }
}

impl core::error::Error for SaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parts() {
        // OpenSM's IB_SA_MAD_STATUS_NO_RECORDS is 0x0300; IB_MAD_STATUS_INVALID_FIELD 0x001C.
        assert_eq!(MadStatus(0x0300).check(), Err(SaError::NoRecords));
        assert_eq!(MadStatus(0x001c).check(), Err(SaError::InvalidField));
        assert_eq!(MadStatus(0x0001).check(), Err(SaError::Busy));
        assert_eq!(MadStatus(0x0000).check(), Ok(()));
        assert_eq!(MadStatus(0x0200).check(), Err(SaError::RequestInvalid));
        assert_eq!(MadStatus(0x2000).check(), Err(SaError::UnknownSaCode(0x20)));
        assert_eq!(MadStatus(0x0020).check(), Err(SaError::UnknownStatus(0x20)));
        assert_eq!(
            MadStatus::from_parts(MadStatusCode::InvalidField, SaStatusCode::NoRecords),
            MadStatus(0x031c)
        );
    }
}
