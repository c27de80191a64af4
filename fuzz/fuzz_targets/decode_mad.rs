//! Any bytes into the SA MAD decoder: it must return a value or an error, never panic or read
//! out of bounds, never report records beyond the input, and every record it decodes must
//! re-encode to a record that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localsa_core::wire::{sa_packet, SaPacket, Value, Visitor};

struct Sink;
impl Visitor for Sink {
    fn field(&mut self, _: &'static str, _: Value<'_>) {}
    fn begin(&mut self, _: &'static str) {}
    fn end(&mut self) {}
}

fuzz_target!(|data: &[u8]| {
    let _ = sa_packet::describe(data, &mut Sink);
    let Ok(packet) = SaPacket::new_checked(data) else { return };
    let Ok(records) = packet.records() else { return };
    assert!(records.remaining() * records.stride() <= data.len(), "records beyond the input");
    for record in records.flatten() {
        let mut out = [0u8; 256];
        if let Ok(n) = record.encode(&mut out) {
            let again = localsa_core::wire::SaRecord::decode(record.attribute_id(), &out[..n])
                .expect("a record localsa encoded must decode");
            assert_eq!(again, record, "decode(encode(x)) != x");
        }
    }
});
