//! RMPP throughput: reassembly (Receiver) and segmentation (Sender) of PathRecord tables, with
//! a plain copy of the same payload as the baseline measured in the same run.
//!
//! `cargo bench -p localsa-core --bench rmpp -- --quick`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use localsa_core::rmpp::{capacity_for, segment_count, Config, Event, Outcome, Receiver, Sender};
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::request::rmpp_ack;
use localsa_core::wire::{AttributeId, MadAddress, Method, SaMad, MAD_LEN};

const CAP: usize = capacity_for(1000, 64);
const SA: MadAddress = MadAddress::gsi(1, 0);
const CLIENT: MadAddress = MadAddress::gsi(7, 0);
const SIZES: [usize; 2] = [64, 1000];

fn headers() -> SaMad {
    let mut h = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, 0x1234);
    h.sa.attribute_offset = 8;
    h
}

fn payload(records: usize) -> Vec<u8> {
    (0..records * 64).map(|i| (i * 31 % 251) as u8).collect()
}

/// The DATA segments a Sender produces for `records` records (ACKing as a receiver would).
fn segments(records: usize) -> Vec<[u8; MAD_LEN]> {
    let mut s = Box::new(Sender::<1, CAP>::new(Config::DEFAULT));
    let h = headers();
    s.start(Instant::ZERO, CLIENT, &h, &payload(records)).unwrap();
    let count = segment_count(records * 64) as u32;
    let mut out = Vec::new();
    let mut buf = [0u8; MAD_LEN];
    let mut ack = [0u8; MAD_LEN];
    while let Some((_, len)) = s.poll_transmit(Instant::ZERO, &mut buf) {
        assert_eq!(len, MAD_LEN);
        out.push(buf);
        if out.len() == 1 {
            rmpp_ack(&mut ack, &h, 1, count).unwrap();
            s.handle(Instant::ZERO, CLIENT, &ack);
        }
    }
    assert_eq!(out.len(), count as usize);
    out
}

/// Feeds every segment to a receiver and collects the reassembled MAD; returns its length.
fn reassemble(r: &mut Receiver<1, CAP>, now: Instant, segs: &[[u8; MAD_LEN]]) -> usize {
    let mut buf = [0u8; MAD_LEN];
    for seg in segs {
        let o = r.handle(now, SA, seg);
        debug_assert!(matches!(o, Outcome::Accepted | Outcome::Completed));
        while r.poll_transmit(now, &mut buf).is_some() {}
    }
    let Some(Event::Received { id, len, .. }) = r.poll_event() else { panic!("not reassembled") };
    black_box(r.received(id));
    r.release(id);
    len
}

/// Segments `data` through a sender, with the two ACKs a 1-then-everything window needs.
fn segment(s: &mut Sender<1, CAP>, h: &SaMad, data: &[u8], acks: &[[u8; MAD_LEN]; 2]) -> usize {
    let mut buf = [0u8; MAD_LEN];
    let mut sent = 0;
    s.start(Instant::ZERO, CLIENT, h, data).unwrap();
    while let Some((_, len)) = s.poll_transmit(Instant::ZERO, &mut buf) {
        black_box(&buf[..len]);
        sent += 1;
        if sent == 1 {
            s.handle(Instant::ZERO, CLIENT, &acks[0]);
        }
    }
    s.handle(Instant::ZERO, CLIENT, &acks[1]);
    let Some(Event::Sent { .. }) = s.poll_event() else { panic!("not acknowledged") };
    sent
}

fn acks(records: usize) -> [[u8; MAD_LEN]; 2] {
    let count = segment_count(records * 64) as u32;
    let mut a = [[0u8; MAD_LEN]; 2];
    rmpp_ack(&mut a[0], &headers(), 1, count).unwrap();
    rmpp_ack(&mut a[1], &headers(), count, count).unwrap();
    a
}

fn bench(c: &mut Criterion) {
    let mut receiver = Box::new(Receiver::<1, CAP>::new(Config::DEFAULT));
    let mut sender = Box::new(Sender::<1, CAP>::new(Config::DEFAULT));
    let h = headers();
    // Each iteration reuses the TID, so it runs an hour later: the finished transfer's linger
    // (10 s) is over and the key is free again.
    let mut now = Instant::ZERO;
    let hour = Duration::from_secs(3600);

    let mut bytes = c.benchmark_group("rmpp_bytes");
    for records in SIZES {
        let data = payload(records);
        let segs = segments(records);
        let a = acks(records);
        bytes.throughput(Throughput::Bytes(data.len() as u64));
        bytes.bench_with_input(BenchmarkId::new("memcpy_baseline", records), &data, |b, data| {
            let mut dest = vec![0u8; CAP];
            b.iter(|| {
                dest[56..56 + data.len()].copy_from_slice(black_box(data));
                black_box(&dest);
            })
        });
        bytes.bench_with_input(BenchmarkId::new("reassembly", records), &segs, |b, segs| {
            b.iter(|| {
                now += hour;
                reassemble(&mut receiver, now, black_box(segs))
            })
        });
        bytes.bench_with_input(BenchmarkId::new("segmentation", records), &data, |b, data| {
            b.iter(|| segment(&mut sender, &h, black_box(data), &a))
        });
    }
    bytes.finish();

    let mut elements = c.benchmark_group("rmpp_segments");
    for records in SIZES {
        let data = payload(records);
        let segs = segments(records);
        let a = acks(records);
        elements.throughput(Throughput::Elements(segs.len() as u64));
        elements.bench_with_input(BenchmarkId::new("reassembly", records), &segs, |b, segs| {
            b.iter(|| {
                now += hour;
                reassemble(&mut receiver, now, black_box(segs))
            })
        });
        elements.bench_with_input(BenchmarkId::new("segmentation", records), &data, |b, data| {
            b.iter(|| segment(&mut sender, &h, black_box(data), &a))
        });
    }
    elements.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
