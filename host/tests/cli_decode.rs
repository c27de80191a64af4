//! `localsa decode` as a user runs it: real vectors decode (text and JSON), and garbage of
//! every kind gives one error line and exit status 65, never a panic.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn decode(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_localsa"))
        .arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The child may exit before reading everything (e.g. oversized input): ignore EPIPE.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn decodes_a_vector_as_text_and_json() {
    let hex = vector("pr_getresp_lid5_lid8_sl5");
    let out = decode(&[], &hex);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("method                           129 (GetResp)"), "{text}");
    assert!(text.contains("sl                               5"), "{text}");

    let out = decode(&["--json"], &hex);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["records"][0]["sl"], 5);
    assert_eq!(json["records"][0]["dlid"], 8);
    assert_eq!(json["mad_header"]["method"]["name"], "GetResp");

    // The same MAD as raw bytes.
    let raw = localsa::cli::hex::parse(std::str::from_utf8(&hex).unwrap()).unwrap();
    let out = decode(&["--raw"], &raw);
    assert!(out.status.success());
}

#[test]
fn garbage_is_an_error_not_a_crash() {
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\n".to_vec(),
        b"zz".to_vec(),
        b"01 02 0".to_vec(),
        b"01 03 02 81".to_vec(),
        vec![0xff; 256],
        vec![0x00; 4096],
        "é€🦀".as_bytes().to_vec(),
        vec![0x01; 17 << 20], // over the 16 MiB input cap
    ];
    // A valid header with AttributeOffset and PayloadLength lies.
    let mut lies =
        localsa::cli::hex::parse(std::str::from_utf8(&vector("pr_gettable_resp_from_lid5")).unwrap())
            .unwrap();
    lies[24] = 1; // RMPPVersion 1
    lies[26] = 0x07; // ACTIVE | FIRST | LAST
    lies[25] = 1; // DATA
    lies[32..36].copy_from_slice(&9999u32.to_be_bytes());
    inputs.push(lies);
    // Deterministic pseudo-random inputs of many lengths, some starting like an SA MAD.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in [1, 23, 24, 35, 36, 55, 56, 57, 100, 255, 256, 257, 1000] {
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
        inputs.push(v.clone());
        if len >= 3 {
            v[..3].copy_from_slice(&[1, 3, 2]);
            inputs.push(v);
        }
    }
    for input in inputs {
        for args in [&[][..], &["--json"][..], &["--raw"][..]] {
            let out = decode(args, &input);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "panic on {} bytes: {stderr}", input.len());
            if !out.status.success() {
                assert_eq!(out.status.code(), Some(65), "{} bytes {args:?}: {stderr}", input.len());
                assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
                assert!(stderr.starts_with("localsa: "), "{stderr}");
            }
        }
    }
}

/// A reassembled RMPP GetTable answer of 20 PathRecords (1336 bytes, as the kernel hands a
/// `USER_RMPP`-less agent the whole transfer), built with the core's encoder: the first
/// segment's headers (ACTIVE | FIRST, SegmentNumber 1, PayloadLength of the whole payload),
/// AttributeOffset 8 (64-byte records), then every record.
fn reassembled_path_records(n: u16) -> Vec<u8> {
    use localsa_core::wire::{
        AttributeId, Gid, Method, Mtu, PacketLifetime, PathRecordRepr, Rate, RmppFlags, RmppStatus, RmppType,
        SaAttribute, SaMad, Selector, DATA_OFFSET,
    };
    let mut mad = SaMad::new(Method::GetTableResp, AttributeId::PathRecord, 0x1234_5678);
    mad.sa.attribute_offset = 8;
    mad.rmpp = localsa_core::wire::rmpp_header::Repr {
        version: 1,
        rmpp_type: RmppType::Data,
        resp_time: 0x1f,
        flags: RmppFlags::ACTIVE | RmppFlags::FIRST,
        status: RmppStatus::Normal,
        data1: 1,
        data2: 20 + 64 * n as u32,
    };
    let mut buf = vec![0u8; DATA_OFFSET + 64 * n as usize];
    let data = mad.emit(&mut buf).unwrap();
    for i in 0..n {
        let dlid = 100 + i;
        let r = PathRecordRepr {
            sgid: Gid::new(0xfe80 << 48, 0x0002_c903_0000_0005),
            dgid: Gid::new(0xfe80 << 48, 0x0002_c903_0000_0000 + dlid as u64),
            slid: 5,
            dlid,
            reversible: true,
            pkey: 0xffff,
            sl: (i % 16) as u8,
            mtu_selector: Selector::Exactly,
            mtu: Mtu::Mtu2048,
            rate_selector: Selector::Exactly,
            rate: Rate::Gbps40,
            packet_lifetime_selector: Selector::Exactly,
            packet_lifetime: PacketLifetime(18),
            ..PathRecordRepr::default()
        };
        r.encode(&mut data[64 * i as usize..64 * (i as usize + 1)]).unwrap();
    }
    buf
}

#[test]
fn decodes_a_reassembled_rmpp_transfer_of_20_path_records() {
    let raw = reassembled_path_records(20);
    assert_eq!(raw.len(), 1336, "longer than one MAD");
    let hex: String = raw
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .chunks(16)
        .map(|l| l.join(" ") + "\n")
        .collect();
    for (args, input) in [(&["--json"][..], hex.as_bytes()), (&["--json", "--raw"][..], &raw[..])] {
        let out = decode(args, input);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["record_count"], 20, "{args:?}");
        let records = json["records"].as_array().expect("records");
        assert_eq!(records.len(), 20);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r["dlid"], 100 + i as u64, "record {i}");
            assert_eq!(r["slid"], 5, "record {i}");
            assert_eq!(r["sl"], (i % 16) as u64, "record {i}");
        }
        assert_eq!(records[19]["dgid"], "fe80::2:c903:0:77", "{}", records[19]);
        let rmpp = &json["rmpp_header"];
        assert_eq!((&rmpp["payload_length"], &rmpp["segment_number"]), (&1300.into(), &1.into()), "{rmpp}");
        assert_eq!(rmpp["payload_length"], 20 + 64 * 20, "{rmpp}");
        assert_eq!(json["sa_header"]["attribute_offset"], 8);
    }
    let out = decode(&[], hex.as_bytes());
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["record_count", "20"]),
        "{text}"
    );
    assert_eq!(text.lines().filter(|l| l.trim_start().starts_with("dlid ")).count(), 20, "{text}");
    // Cut in the middle of the last record: 19 whole records, not a crash.
    let out = decode(&["--json", "--raw"], &raw[..raw.len() - 10]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["record_count"], 19);
}
