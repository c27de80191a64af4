//! Malformed MADs must be refused with the typed error that names what is wrong, by the codec,
//! the RMPP layer and the engine alike, and random bytes must never do more than that.

use localsa_core::engine::{Event, Resolve, ResolveFlags};
use localsa_core::rmpp::{self, Dropped, Failure, Outcome, Receiver, Rejection};
use localsa_core::table::Query;
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::{
    AttributeId, Error, Layer, MadAddress, Method, RmppFlags, RmppStatus, RmppType, SaMad, SaPacket, MAD_LEN,
};

use crate::sa::{gid, ME, SA_LID};
use crate::vectors::VECTORS;
use localsa_firmware::FwEngine;

const FROM_SA: MadAddress = MadAddress::gsi(SA_LID, 0);

fn vector(name: &str) -> [u8; MAD_LEN] {
    VECTORS.iter().find(|v| v.name == name).map_or([0; MAD_LEN], |v| v.mad)
}

/// What `SaPacket::new_checked` and then `records()` say about `bytes`.
fn decode(bytes: &[u8]) -> Result<usize, Error> {
    let packet = SaPacket::new_checked(bytes)?;
    SaMad::parse(&packet)?;
    let mut n = 0;
    for r in packet.records()? {
        r?;
        n += 1;
    }
    Ok(n)
}

/// An RMPP DATA segment of a GetTableResp(PathRecord) with TID `tid`.
fn segment(tid: u64, seg: u32, flags: RmppFlags, payload_length: u32) -> [u8; MAD_LEN] {
    let mut mad = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, tid);
    mad.rmpp.version = 1;
    mad.rmpp.rmpp_type = RmppType::Data;
    mad.rmpp.flags = RmppFlags::ACTIVE | flags;
    mad.rmpp.data1 = seg;
    mad.rmpp.data2 = payload_length;
    mad.sa.attribute_offset = 8;
    let mut out = [0u8; MAD_LEN];
    let _ = mad.emit(&mut out);
    out
}

pub fn run(e: &mut FwEngine, now: Instant) {
    codec();
    rmpp_layer(now);
    engine_and_noise(e, now);
}

/// The codec names each defect.
fn codec() {
    let good = vector("pr_getresp_lid5_lid8_mtu2048_rate40g");
    check!(decode(&good) == Ok(1), "codec: the reference vector does not decode");

    let truncated = [
        (0, Layer::MadHeader, 24),
        (20, Layer::MadHeader, 24),
        (30, Layer::RmppHeader, 36),
        (40, Layer::SaHeader, 56),
    ];
    for (len, layer, needed) in truncated {
        let want = Err(Error::Truncated { layer, needed, available: len });
        check!(decode(&good[..len]) == want, "codec: {} bytes not refused as truncated", len);
    }
    // A PathRecord cut short: header complete, record not.
    let want =
        Err(Error::Truncated { layer: Layer::Attribute(AttributeId::PathRecord), needed: 64, available: 44 });
    check!(decode(&good[..100]) == want, "codec: a cut PathRecord not refused");

    let mut m = good;
    m[0] = 2;
    check!(decode(&m) == Err(Error::UnsupportedBaseVersion(2)), "codec: BaseVersion 2 accepted");
    let mut m = good;
    m[1] = 0x01;
    check!(decode(&m) == Err(Error::WrongClass { expected: 0x03, found: 0x01 }), "codec: SMP class accepted");
    let mut m = good;
    m[2] = 1;
    check!(decode(&m) == Err(Error::UnsupportedClassVersion(1)), "codec: ClassVersion 1 accepted");

    // A table answer whose AttributeOffset (in 8-byte words, bytes 44-45) is shorter than a
    // PathRecord.
    let mut m = vector("pr_gettable_resp_from_lid5");
    m[44..46].copy_from_slice(&4u16.to_be_bytes());
    let want = Err(Error::AttributeOffsetTooSmall { offset_bytes: 32, record_len: 64 });
    check!(decode(&m) == want, "codec: AttributeOffset 4 accepted");

    // A single RMPP segment whose PayloadLength claims more than the MAD holds.
    let m = segment(0x41, 1, RmppFlags::FIRST | RmppFlags::LAST, 1000);
    check!(
        decode(&m) == Err(Error::PayloadLengthMismatch { claimed: 1000, available: 220 }),
        "codec: PayloadLength 1000 accepted"
    );
    // A middle segment cannot be read alone.
    let m = segment(0x41, 2, RmppFlags::empty(), 0);
    check!(decode(&m) == Err(Error::PartialRmppSegment { segment: 2 }), "codec: a lone segment 2 read");
    say!("malformed: truncated (5 lengths), BaseVersion, class, ClassVersion, AttributeOffset, PayloadLength, lone segment: each refused with its typed error");
}

/// RMPP refuses what does not belong to a transfer, what does not fit, and a transfer that
/// ends before its PayloadLength said.
fn rmpp_layer(now: Instant) {
    let mut rx: Receiver<1, 512> = Receiver::new(rmpp::Config::DEFAULT);
    let from = FROM_SA;

    let short = segment(0x42, 1, RmppFlags::FIRST, 440);
    let outcome = rx.handle(now, from, &short[..30]);
    check!(
        outcome
            == Outcome::Malformed(Error::Truncated { layer: Layer::RmppHeader, needed: 36, available: 30 }),
        "rmpp: a cut header not refused"
    );
    let outcome = rx.handle(now, from, &segment(0x43, 3, RmppFlags::empty(), 0));
    check!(outcome == Outcome::Dropped(Dropped::Unmatched), "rmpp: a segment without a First accepted");
    // 10 segments (2 200 bytes of records) do not fit 512 bytes: STOP.
    let outcome = rx.handle(now, from, &segment(0x44, 1, RmppFlags::FIRST, 2200));
    check!(
        matches!(outcome, Outcome::Rejected(Rejection::TooLarge { capacity: 512, .. })),
        "rmpp: a transfer larger than the slot accepted"
    );
    let mut buf = [0u8; MAD_LEN];
    let stop = rx.poll_transmit(now, &mut buf).and_then(|(_, len)| SaPacket::new_checked(&buf[..len]).ok());
    let stop = stop.map(|p| (p.rmpp_header().rmpp_type, p.rmpp_header().status));
    check!(
        stop == Some((RmppType::Stop.raw(), RmppStatus::ResourcesExhausted.raw())),
        "rmpp: no STOP ResourcesExhausted"
    );

    // Two segments promised (PayloadLength 440: 400 bytes of records), the second comes as the
    // Last with only 100 bytes: the transfer fails, nothing is delivered.
    let later = now + Duration::from_millis(1);
    let first = rx.handle(later, from, &segment(0x45, 1, RmppFlags::FIRST, 440));
    check!(first == Outcome::Accepted, "rmpp: first of two segments not accepted");
    while rx.poll_transmit(later, &mut buf).is_some() {}
    let last = rx.handle(later, from, &segment(0x45, 2, RmppFlags::LAST, 120));
    check!(
        last == Outcome::Ended(Failure::Truncated { promised: 400, carried: 300 }),
        "rmpp: a short Last segment not refused as truncated"
    );
    let mut delivered = false;
    while let Some(ev) = rx.poll_event() {
        delivered |= matches!(ev, rmpp::Event::Received { .. });
    }
    check!(!delivered, "rmpp: a truncated transfer was delivered");
    say!("malformed rmpp: cut header, orphan segment, oversized transfer (STOP), short Last (ABORT, nothing delivered): refused");
}

/// A tiny xorshift PRNG: reproducible noise without a dependency.
struct XorShift(u32);

impl XorShift {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// Counts of the errors random bytes got.
#[derive(Debug, Default)]
struct Tally {
    decoded: u32,
    truncated: u32,
    version: u32,
    class: u32,
    offset: u32,
    payload: u32,
    segment: u32,
    other: u32,
}

/// The engine counts what it cannot decode and goes on; random MADs (fully random, and random
/// after a valid SA prefix so that they reach the record decoders and RMPP) change nothing
/// they should not.
fn engine_and_noise(e: &mut FwEngine, start: Instant) {
    let malformed = e.stats().malformed;
    for bad in [&[0u8; 10][..], &[1, 0x81, 2, 0x81][..]] {
        e.handle_mad(start, FROM_SA, bad);
    }
    let mut m = vector("pr_getresp_lid5_lid8_mtu2048_rate40g");
    m[2] = 7;
    e.handle_mad(start, FROM_SA, &m);
    check!(
        e.stats().malformed == malformed + 3,
        "engine: {} malformed MADs counted of 3",
        e.stats().malformed - malformed
    );

    let mut rng = XorShift(0x1234_5678);
    let mut t = Tally::default();
    let mut now = start;
    let mut buf = [0u8; MAD_LEN];
    let mut resolved = 0;
    const N: u32 = 4000;
    for i in 0..N {
        let mut mad = [0u8; MAD_LEN];
        for chunk in mad.chunks_mut(4) {
            chunk.copy_from_slice(&rng.next().to_le_bytes()[..chunk.len()]);
        }
        if i % 2 == 1 {
            // A valid SA MAD prefix; method, attribute and the rest stay random.
            mad[..3].copy_from_slice(&[1, 0x03, 2]);
            if i % 4 == 3 {
                mad[24] = 1; // RMPPVersion 1: through the RMPP layer
            }
        }
        let len = (rng.next() as usize) % (MAD_LEN + 1);
        let bytes = &mad[..len];
        match decode(bytes) {
            Ok(_) => t.decoded += 1,
            Err(Error::Truncated { .. }) => t.truncated += 1,
            Err(Error::UnsupportedBaseVersion(_) | Error::UnsupportedClassVersion(_)) => t.version += 1,
            Err(Error::WrongClass { .. }) => t.class += 1,
            Err(Error::AttributeOffsetTooSmall { .. }) => t.offset += 1,
            Err(Error::PayloadLengthMismatch { .. }) => t.payload += 1,
            Err(Error::PartialRmppSegment { .. }) => t.segment += 1,
            Err(_) => t.other += 1,
        }
        e.handle_mad(now, FROM_SA, bytes);
        while e.poll_transmit(now, &mut buf).is_some() {}
        while let Some(ev) = e.poll_event() {
            resolved += matches!(ev, Event::Resolved { .. }) as u32;
        }
        if i % 64 == 0 {
            now += Duration::from_millis(10);
            e.handle_timeout(now);
        }
    }
    check!(resolved == 0, "noise: {} resolves answered by random bytes", resolved);
    // Whatever RMPP transfers the noise began are given up in time.
    let end = now + Duration::from_secs(120);
    while now < end {
        now = e.poll_at().map_or(end, |t| t.max(now + Duration::from_millis(1)).min(end));
        e.handle_timeout(now);
        while e.poll_transmit(now, &mut buf).is_some() {}
        while e.poll_event().is_some() {}
    }
    let s = e.stats();
    check!(
        s.rmpp_in_flight == 0 && s.outstanding == 0,
        "noise: left {} RMPP transfers in flight",
        s.rmpp_in_flight
    );
    say!(
        "noise: {} random MADs: {} decoded, refused {} truncated, {} version, {} class, {} AttributeOffset, {} PayloadLength, {} partial segment, {} other; engine counted {} malformed",
        N,
        t.decoded,
        t.truncated,
        t.version,
        t.class,
        t.offset,
        t.payload,
        t.segment,
        t.other,
        s.malformed - malformed
    );
    // The engine still works after the noise.
    let q = Query::between_gids(gid(ME), gid(8)).with_reversible().with_numb_path(1);
    let r = e.resolve(now, &q, ResolveFlags::empty(), 40);
    check!(matches!(r, Resolve::Pending | Resolve::Answered(_)), "noise: the engine no longer resolves");
    e.cancel_all();
    while e.poll_event().is_some() {}
}
