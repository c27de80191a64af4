//! Reading one received MAD as an RMPP message, and the rules a single MAD must obey whatever
//! transfer it belongs to.
//!
//! The checks follow Linux `ib_process_rmpp_recv_wc()` and the IBA RMPP status codes:
//! a version other than 1 is UnsupportedVersion; an RMPPType outside DATA/ACK/STOP/ABORT is
//! BadRmppType; a DATA or ACK with a non-zero RMPPStatus, a STOP whose status is not
//! ResourcesExhausted or an ABORT whose status is not an abort code (118..=127) is
//! IllegalStatus; a DATA whose First flag disagrees with SegmentNumber 1 is
//! InconsistentFirstAndSegmentNumber; a DATA whose PayloadLength cannot go with its Last (or
//! First) flag is InconsistentLastAndPayloadLength; an ACK whose NewWindowLast is below its
//! SegmentNumber is NewWindowLastTooSmall.

use crate::wire::rmpp_header::{RmppFlags, RmppStatus, RmppType, VERSION};
use crate::wire::{Error, Layer, SaMad, SaPacket, DATA_OFFSET};

use super::segment::{self, Total, SEGMENT_DATA_LEN};

/// An RMPP MAD, decoded and checked against the rules of a single MAD.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming<'a> {
    /// Its three headers.
    pub mad: SaMad,
    /// The first [`DATA_OFFSET`] bytes as received (what a reassembled MAD starts with).
    pub header: &'a [u8],
    /// What it says.
    pub kind: Kind<'a>,
}

/// The meaning of an RMPP MAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// A DATA segment; `data` is exactly the SA data it carries (200 bytes, or what the Last
    /// segment's PayloadLength says).
    Data { seg: u32, first: bool, last: bool, payload_length: u32, data: &'a [u8] },
    /// An ACK: every segment up to `seg` arrived; the sender may send up to `new_window_last`.
    Ack { seg: u32, new_window_last: u32 },
    /// The receiver asks the sender to stop (status ResourcesExhausted).
    Stop { status: RmppStatus },
    /// The peer abandons the transfer (status 118..=127).
    Abort { status: RmppStatus },
    /// The MAD breaks a rule on its own; the answer is ABORT with `status`.
    Illegal { rmpp_type: RmppType, status: RmppStatus },
}

/// How a received MAD relates to RMPP.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Classified<'a> {
    /// Not an SA MAD this layer can read at all.
    Malformed(Error),
    /// RMPPVersion 0 or the Active flag clear: a plain MAD.
    NotRmpp,
    /// An RMPP MAD.
    Rmpp(Incoming<'a>),
}

/// Whether `status` may travel in an ABORT.
pub(crate) const fn is_abort_status(status: RmppStatus) -> bool {
    matches!(status.raw(), 118..=127)
}

/// Classifies `bytes`, one received MAD.
pub(crate) fn classify(bytes: &[u8]) -> Classified<'_> {
    let packet = match SaPacket::new_checked(bytes) {
        Ok(p) => p,
        Err(e) => return Classified::Malformed(e),
    };
    let mad = match SaMad::parse(&packet) {
        Ok(m) => m,
        Err(e) => return Classified::Malformed(e),
    };
    if !mad.rmpp.is_active() {
        return Classified::NotRmpp;
    }
    let header = bytes.get(..DATA_OFFSET).unwrap_or(&[]);
    let illegal = |status| {
        Classified::Rmpp(Incoming {
            mad,
            header,
            kind: Kind::Illegal { rmpp_type: mad.rmpp.rmpp_type, status },
        })
    };
    if mad.rmpp.version != VERSION {
        return illegal(RmppStatus::UnsupportedVersion);
    }
    let r = mad.rmpp;
    let kind = match r.rmpp_type {
        RmppType::Data => {
            if r.status != RmppStatus::Normal {
                return illegal(RmppStatus::IllegalStatus);
            }
            let first = r.flags.contains(RmppFlags::FIRST);
            let last = r.flags.contains(RmppFlags::LAST);
            if first != (r.data1 == 1) {
                return illegal(RmppStatus::InconsistentFirstAndSegmentNumber);
            }
            let data_len = if last {
                match segment::data_in_last(r.data2) {
                    Some(n) => n,
                    None => return illegal(RmppStatus::InconsistentLastAndPayloadLength),
                }
            } else {
                SEGMENT_DATA_LEN
            };
            if first && !last {
                // A total that fits one segment needs the Last flag.
                match segment::total_from_first(r.data2) {
                    Some(Total::Unknown) => {}
                    Some(Total::Known { segments, .. }) if segments >= 2 => {}
                    _ => return illegal(RmppStatus::InconsistentLastAndPayloadLength),
                }
            }
            let body = bytes.get(DATA_OFFSET..).unwrap_or(&[]);
            let available = body.len();
            let Some(data) = body.get(..data_len) else {
                return Classified::Malformed(Error::Truncated {
                    layer: Layer::Mad,
                    needed: DATA_OFFSET + data_len,
                    available: DATA_OFFSET + available,
                });
            };
            Kind::Data { seg: r.data1, first, last, payload_length: r.data2, data }
        }
        RmppType::Ack => {
            if r.status != RmppStatus::Normal {
                return illegal(RmppStatus::IllegalStatus);
            }
            if r.data2 < r.data1 {
                return illegal(RmppStatus::NewWindowLastTooSmall);
            }
            Kind::Ack { seg: r.data1, new_window_last: r.data2 }
        }
        RmppType::Stop => {
            if r.status != RmppStatus::ResourcesExhausted {
                return illegal(RmppStatus::IllegalStatus);
            }
            Kind::Stop { status: r.status }
        }
        RmppType::Abort => {
            if !is_abort_status(r.status) {
                return illegal(RmppStatus::IllegalStatus);
            }
            Kind::Abort { status: r.status }
        }
        _ => return illegal(RmppStatus::BadRmppType),
    };
    Classified::Rmpp(Incoming { mad, header, kind })
}
