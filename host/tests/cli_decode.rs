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
