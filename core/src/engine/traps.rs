//! Reports from the SA: acknowledge each with ReportResp, then drop what it says is gone.

use super::event::{Invalidation, Notice};
use super::Engine;
use crate::table::PinPolicy;
use crate::time::Instant;
use crate::wire::{
    request, MadAddress, NoticeRepr, SaAttribute, SaMad, SaPacket, TrapDetails, TrapNumber, MAD_LEN,
};

impl<
        const T: usize,
        const P: usize,
        const W: usize,
        const RXS: usize,
        const RXC: usize,
        const TXS: usize,
        const TXC: usize,
    > Engine<T, P, W, RXS, RXC, TXS, TXC>
{
    /// A Report(Notice) from `from`.
    ///
    /// The ReportResp goes out first and for every Report, duplicates included: the SA resends
    /// a Report until it is acknowledged, and an unacknowledged SA logs timeouts. Acting on a
    /// duplicate again is harmless (invalidation is idempotent). The one exception is a
    /// replica whose outbox has no room left for the ReportResp and the relay together: it
    /// leaves the Report unacknowledged so that the resent one reaches its subscribers.
    pub(super) fn handle_report(&mut self, now: Instant, from: MadAddress, packet: &SaPacket<&[u8]>) {
        self.stats.reports += 1;
        let (Ok(mad), Ok(notice)) = (SaMad::parse(packet), NoticeRepr::decode(packet.data())) else {
            self.stats.malformed += 1;
            return;
        };
        let trap = notice.trap_number();
        let relay = self.config.serve_sa && trap.is_some_and(|t| self.has_subscribers(t));
        if relay && self.outbox.free() < 2 {
            // No room for both the ReportResp and the relay: acknowledge nothing, so that the
            // SA sends the Report again and the leaves get it then (an acknowledged Report
            // that we could not relay would be lost to them).
            self.outbox.dropped += 1;
        } else {
            let mut buf = [0u8; MAD_LEN];
            if let Ok(len) = request::report_resp(&mut buf, &mad, &notice) {
                self.outbox.push(from, &buf, len);
                self.stats.report_resps += 1;
            }
            if let (true, Some(t)) = (relay, trap) {
                self.relay_report(t, packet);
            }
        }
        let Some(trap) = trap else { return };
        let what = match (trap, notice.details()) {
            (TrapNumber::GidInService | TrapNumber::GidOutOfService, Some(TrapDetails::Gid(gid))) => {
                // Out of service: every path to or from it is gone. In service: a port that
                // comes back may have a new LID, and "no path" answers about it are wrong now.
                Some((Invalidation::Gid { trap, gid }, self.table.invalidate_gid(&gid, PinPolicy::Keep)))
            }
            (
                TrapNumber::CapabilityMaskChanged,
                Some(
                    TrapDetails::CapabilityMaskChanged { lid, .. }
                    | TrapDetails::SystemImageGuidChanged { lid, .. },
                ),
            )
            | (TrapNumber::SystemImageGuidChanged, Some(TrapDetails::SystemImageGuidChanged { lid, .. })) => {
                Some((Invalidation::Lid { trap, lid }, self.table.invalidate_lid(lid, PinPolicy::Keep)))
            }
            _ => None,
        };
        if let Some((what, entries)) = what {
            info!("engine: trap {} invalidated {} cached entries", trap.raw(), entries);
            self.stats.trap_invalidations += entries as u64;
            self.push_event(Notice::Invalidated { what, entries });
            self.bulk.refetch_soon(now);
        }
    }
}
