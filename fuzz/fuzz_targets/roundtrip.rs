//! decode → encode → decode, for every modelled attribute and for whole MADs.
//!
//! * Attributes (each of the ten decoders on the bytes after the headers, or on the whole
//!   input when it is shorter): a decoded record encodes, in no more bytes than it was decoded
//!   from, to bytes that decode to the same value, and encoding is idempotent. Where the input
//!   is canonical the bytes are reproduced: the input with the bits the codec does not keep
//!   cleared (those that do not survive a decode/encode of all-ones: reserved bits, flag bytes
//!   above bit 0) re-encodes to itself byte for byte.
//! * Headers: the three headers re-emit to the input's 56 bytes with only the two reserved
//!   fields cleared.
//! * MADs: the records, re-encoded in place at their stride, decode to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localsa_core::wire::record::record_len;
use localsa_core::wire::{AttributeId, SaMad, SaPacket, SaRecord, DATA_OFFSET};

/// Offsets of the reserved fields in the MAD header (18..20) and the SA header (46..48).
const RESERVED: [usize; 4] = [18, 19, 46, 47];

/// Room for any record: the largest attribute is a MultiPathRecord filling a MAD (200 bytes).
const ROOM: usize = 256;

/// Encodes `record` at the start of `out`.
fn encode<'o>(record: &SaRecord<'_>, out: &'o mut [u8; ROOM]) -> &'o [u8] {
    out.fill(0);
    let n = record.encode(out).unwrap_or_else(|e| panic!("a decoded record must encode: {e} {record:?}"));
    &out[..n]
}

/// The bits the codec keeps in a record of `id` of `len` bytes: all-ones through the codec (a
/// flag byte keeps bit 0: any non-zero byte reads as true and is written as 1). Cached per
/// attribute for the fixed-length ones.
fn mask(id: AttributeId, len: usize) -> Option<[u8; ROOM]> {
    thread_local! {
        static CACHE: std::cell::RefCell<Vec<(AttributeId, usize, Option<[u8; ROOM]>)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if let Some(m) = CACHE.with(|c| c.borrow().iter().find(|e| e.0 == id && e.1 == len).map(|e| e.2)) {
        return m;
    }
    let ones = [0xffu8; ROOM];
    let mut out = [0u8; ROOM];
    let m = SaRecord::decode(id, &ones[..len]).ok().and_then(|all| {
        let kept = encode(&all, &mut out);
        // A variable-length attribute whose length follows its content has no one mask.
        (kept.len() == len).then_some(out)
    });
    if record_len(id).is_some() && id != AttributeId::MultiPathRecord {
        CACHE.with(|c| c.borrow_mut().push((id, len, m)));
    }
    m
}

fn attribute(id: AttributeId, bytes: &[u8]) {
    let Ok(first) = SaRecord::decode(id, bytes) else { return };
    let (mut a, mut b) = ([0u8; ROOM], [0u8; ROOM]);
    let encoded = encode(&first, &mut a);
    let len = encoded.len();
    assert!(len <= bytes.len(), "{id:?}: encoded {len} bytes from {}", bytes.len());
    let second = SaRecord::decode(id, encoded).expect("an encoded record must decode");
    assert_eq!(first, second, "{id:?}: decode(encode(x)) != x");
    assert_eq!(encode(&second, &mut b), encoded, "{id:?}: encoding is not idempotent");
    // The input with every bit the codec does not keep cleared is canonical, and must come
    // back byte for byte.
    let Some(mask) = mask(id, len) else { return };
    let mut canonical = [0u8; ROOM];
    for i in 0..len {
        canonical[i] = bytes[i] & mask[i];
    }
    let value = SaRecord::decode(id, &canonical[..len]).expect("a canonical record decodes");
    let again = encode(&value, &mut b);
    if let Some(i) = (0..len).find(|&i| again[i] != canonical[i]) {
        panic!(
            "{id:?}: canonical byte {i} not reproduced: {:#04x} became {:#04x} (kept bits {:#04x})",
            canonical[i], again[i], mask[i]
        );
    }
}

fn mad(data: &[u8]) {
    let Ok(packet) = SaPacket::new_checked(data) else { return };
    let headers = SaMad::parse(&packet).expect("a checked packet's headers decode");
    let mut rebuilt = data.to_vec();
    headers.emit(&mut rebuilt).expect("decoded headers emit");
    for (i, (&got, &input)) in rebuilt[..DATA_OFFSET].iter().zip(data).enumerate() {
        let want = if RESERVED.contains(&i) { 0 } else { input };
        assert_eq!(got, want, "header byte {i} not reproduced");
    }
    let again =
        SaMad::parse(&SaPacket::new_checked(&rebuilt[..]).expect("re-emitted headers check")).unwrap();
    assert_eq!(again, headers, "headers: decode(encode(x)) != x");

    let Ok(records) = packet.records() else { return };
    let stride = records.stride();
    let before: Vec<_> = records.collect();
    for (i, record) in before.iter().enumerate() {
        // Raw records (attributes without a model) are their bytes: nothing to re-encode.
        let Ok(record) = record else { continue };
        if matches!(record, SaRecord::Other { .. }) {
            continue;
        }
        let at = DATA_OFFSET + i * stride;
        let end = (at + stride).min(rebuilt.len());
        let mut out = [0u8; ROOM];
        let encoded = encode(record, &mut out);
        assert!(
            encoded.len() <= end - at,
            "record {i} grew: {} bytes in a {stride}-byte stride",
            encoded.len()
        );
        rebuilt[at..at + encoded.len()].copy_from_slice(&encoded);
    }
    let packet = SaPacket::new_checked(&rebuilt[..]).unwrap();
    let after: Vec<_> = packet.records().expect("same headers, same record layout").collect();
    assert_eq!(before.len(), after.len());
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if let Ok(b) = b {
            assert_eq!(Ok(b), a.as_ref(), "record {i}: decode(encode(x)) != x");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let body = data.get(DATA_OFFSET..).filter(|b| !b.is_empty()).unwrap_or(data);
    for id in localsa_fuzz::MODELLED {
        attribute(id, body);
    }
    mad(data);
});
