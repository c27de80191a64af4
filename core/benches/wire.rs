//! Decoding and encoding a PathRecord GetResp MAD, the codec's hot path: every SA answer is
//! decoded once, every query encoded once.
//!
//! `cargo bench -p localsa-core --bench wire`. The MAD is a real one captured from OpenSM
//! (`vectors/pr_getresp_lid5_lid8_sl5.hex`). A plain copy of the 256 bytes is measured in the
//! same run as a floor.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use localsa_core::wire::{request, Method, PathRecordMask, SaAttribute, SaMad, SaPacket, SaRecord, MAD_LEN};

/// The captured MAD, from its hex file.
fn vector() -> [u8; MAD_LEN] {
    let text = include_str!("../../vectors/pr_getresp_lid5_lid8_sl5.hex");
    let bytes: Vec<u8> =
        text.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex vector")).collect();
    bytes.try_into().expect("one 256-byte MAD")
}

fn benches(c: &mut Criterion) {
    let mad = vector();
    let packet = SaPacket::new_checked(&mad[..]).unwrap();
    let record = match packet.records().unwrap().next() {
        Some(Ok(SaRecord::PathRecord(r))) => r,
        _ => panic!("vector holds a PathRecord"),
    };

    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    // The whole answer: headers checked and parsed, the record found and decoded.
    g.bench_function("decode PathRecord GetResp", |b| {
        b.iter(|| {
            let p = SaPacket::new_checked(black_box(&mad[..])).unwrap();
            let headers = SaMad::parse(&p).unwrap();
            let r = p.records().unwrap().next().unwrap().unwrap();
            black_box(&(headers, r));
        })
    });
    // A query as the engine sends it: headers and template into a 256-byte MAD.
    let mut out = [0u8; MAD_LEN];
    let mask =
        PathRecordMask::SGID | PathRecordMask::DGID | PathRecordMask::NUMB_PATH | PathRecordMask::REVERSIBLE;
    g.bench_function("encode PathRecord Get", |b| {
        b.iter(|| {
            request::path_record_query(
                black_box(&mut out),
                black_box(0x1234),
                Method::Get,
                black_box(&record),
                mask,
            )
            .unwrap()
        })
    });
    // An answer as a replica sends it: headers, then the record.
    let resp = SaMad::parse(&packet).unwrap();
    g.bench_function("encode PathRecord GetResp", |b| {
        b.iter(|| {
            let data = black_box(&resp).emit(black_box(&mut out)).unwrap();
            black_box(&record).encode(data).unwrap()
        })
    });
    g.bench_function("copy 256 bytes (floor)", |b| {
        b.iter(|| {
            out.copy_from_slice(black_box(&mad));
            black_box(&out);
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
