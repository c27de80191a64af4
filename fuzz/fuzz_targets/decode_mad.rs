//! Any bytes into the SA MAD decoder, the way `localsa decode` and the engine read them: the
//! field walk, the checked view, the headers, the records at their stride, and every modelled
//! attribute's decoder on the same bytes. Nothing may panic or read out of bounds, and no
//! decoded length may exceed the input: the data area is what follows the headers, the record
//! area lies inside it, the records fit in the record area and each raw record in its stride.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localsa_core::wire::{
    sa_packet, AttributeId, Describe, SaMad, SaPacket, SaRecord, Value, Visitor, DATA_OFFSET,
};

/// Takes the walk without keeping it, but checks that groups nest.
#[derive(Default)]
struct Sink {
    depth: usize,
}

impl Visitor for Sink {
    fn field(&mut self, _: &'static str, value: Value<'_>) {
        std::hint::black_box(value);
    }
    fn begin(&mut self, _: &'static str) {
        self.depth += 1;
    }
    fn end(&mut self) {
        self.depth = self.depth.checked_sub(1).expect("end without begin");
    }
}

/// Whether `inner` lies within `outer` in memory (an empty slice lies anywhere).
fn within(inner: &[u8], outer: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    inner.is_empty() || (o.start <= i.start && i.end <= o.end)
}

fn walk(record: &SaRecord<'_>) {
    let mut sink = Sink::default();
    record.describe(&mut sink);
    assert_eq!(sink.depth, 0, "unbalanced groups in {record:?}");
}

fn check(data: &[u8]) {
    let mut sink = Sink::default();
    let described = sa_packet::describe(data, &mut sink);
    if described.is_ok() {
        assert_eq!(sink.depth, 0, "unbalanced groups");
    }

    for id in localsa_fuzz::MODELLED {
        if let Ok(record) = SaRecord::decode(id, data) {
            walk(&record);
        }
    }

    let Ok(packet) = SaPacket::new_checked(data) else {
        assert!(described.is_err(), "describe accepted what new_checked refused");
        return;
    };
    assert!(data.len() >= DATA_OFFSET);
    assert!(within(packet.data(), data) && packet.data().len() == data.len() - DATA_OFFSET);
    SaMad::parse(&packet).expect("a checked packet's headers decode");
    if let Ok(area) = packet.record_data() {
        assert!(within(area, packet.data()), "record area outside the data");
    }
    let Ok(records) = packet.records() else { return };
    let (stride, count) = (records.stride(), records.remaining());
    assert!(stride > 0);
    assert!(count * stride <= packet.data().len(), "records beyond the input");
    let mut seen = 0;
    for record in records {
        seen += 1;
        match record {
            Ok(SaRecord::Other { bytes, .. }) => {
                assert!(bytes.len() <= stride && within(bytes, data), "raw record beyond its stride");
            }
            Ok(record) => walk(&record),
            Err(_) => {}
        }
    }
    assert_eq!(seen, count, "the iterator and remaining() disagree");
}

fuzz_target!(|data: &[u8]| check(data));
