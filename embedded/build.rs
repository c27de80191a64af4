//! Links the firmware for the lm3s6965evb and embeds the SA vectors.
//!
//! * `memory.x` goes where cortex-m-rt's `link.x` finds it; `link.x` (and `defmt.x` with the
//!   `defmt` feature) are passed to the linker for the binary only.
//! * Every `../vectors/*.hex` becomes 256 bytes in flash, with what its `index.tsv` line and
//!   its name say about it (method, attribute, status; for PathRecord answers the LIDs, GIDs,
//!   MTU, rate, SL and packet lifetime; trap numbers), in `$OUT_DIR/vectors.rs`.

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));

    fs::copy(manifest.join("memory.x"), out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    if env::var_os("CARGO_FEATURE_DEFMT").is_some() {
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    }

    let vectors = manifest.join("../vectors");
    println!("cargo:rerun-if-changed={}", vectors.display());
    fs::write(out.join("vectors.rs"), generate(&vectors)).expect("write vectors.rs");
}

/// One line of `index.tsv`.
struct Indexed {
    method: u8,
    attribute: u16,
    status: u16,
    phase: u8,
}

fn hex_field(field: &str) -> u32 {
    let word = field.split_whitespace().next().unwrap_or("");
    u32::from_str_radix(word.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("bad hex {field:?}"))
}

fn read_index(dir: &Path) -> BTreeMap<String, Indexed> {
    let text = fs::read_to_string(dir.join("index.tsv")).expect("vectors/index.tsv");
    let mut index = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f.len() >= 6, "short index line {line:?}");
        let phase = if f[5] == "phase2" { 2 } else { 1 };
        index.insert(
            f[0].to_string(),
            Indexed {
                method: hex_field(f[2]) as u8,
                attribute: hex_field(f[3]) as u16,
                status: hex_field(f[4]) as u16,
                phase,
            },
        );
    }
    index
}

fn read_hex(path: &Path) -> Vec<u8> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bytes: Vec<u8> = text
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("{}: bad byte {b:?}", path.display())))
        .collect();
    assert_eq!(bytes.len(), 256, "{}: a vector is one 256-byte MAD", path.display());
    bytes
}

/// The LID OpenSM gave each HCA of `vectors/topology/fabric.net` (vectors/README.md).
fn hca_lid(n: u32) -> u16 {
    match n {
        1 => 1,
        2 => 4,
        3 => 5,
        4 => 6,
        5 => 7,
        6 => 8,
        _ => panic!("no Hca{n} in the vector fabric"),
    }
}

/// Rate codes (IBA table 205) by the names the vectors use.
fn rate_code(name: &str) -> u8 {
    match name {
        "2g5" => 2,
        "10g" => 3,
        "30g" => 4,
        "5g" => 5,
        "20g" => 6,
        "40g" => 7,
        _ => panic!("unknown rate {name:?}"),
    }
}

/// What a PathRecord answer's name says about its first record.
#[derive(Default)]
struct PathExpect {
    slid: Option<u16>,
    dlid: Option<u16>,
    mtu: Option<u16>,
    rate: Option<u8>,
    sl: Option<u8>,
    packet_lifetime: Option<u8>,
}

fn path_expect(name: &str, phase: u8) -> PathExpect {
    let words: Vec<&str> = name.split('_').collect();
    let mut e = PathExpect::default();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let num = |prefix: &str| w.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok());
        if w == "from" {
            // pr_gettable_resp_from_lid5: every path from LID 5.
            e.slid = words.get(i + 1).and_then(|l| l.strip_prefix("lid")).and_then(|n| n.parse().ok());
            i += 2;
            continue;
        }
        if let (Some(a), Some(b)) = (num("lid"), words.get(i + 1).and_then(|n| n.strip_prefix("lid"))) {
            e.slid = Some(a as u16);
            e.dlid = b.parse().ok();
            i += 2;
            continue;
        }
        if let (Some(a), Some(b)) = (num("hca"), words.get(i + 1).and_then(|n| n.strip_prefix("hca"))) {
            e.slid = Some(hca_lid(a));
            e.dlid = Some(hca_lid(b.parse().expect("hca number")));
            i += 2;
            continue;
        }
        if let Some(m) = num("mtu") {
            e.mtu = Some(m as u16);
        } else if let Some(r) = w.strip_prefix("rate") {
            e.rate = Some(rate_code(r));
        } else if let Some(sl) = num("sl") {
            e.sl = Some(sl as u8);
        } else if let Some(p) = num("pktlife") {
            e.packet_lifetime = Some(p as u8);
        }
        i += 1;
    }
    // What vectors/README.md says holds unless the name says otherwise: SL 0, in phase 1
    // PacketLifeTime 18 (subnet_timeout 18), and between two HCAs MTU 2048 (a path to a switch's
    // port 0, as in `from_lid5`, may have another).
    if e.dlid.is_some() {
        e.mtu = e.mtu.or(Some(2048));
    }
    e.sl = e.sl.or(Some(0));
    if phase == 1 {
        e.packet_lifetime = e.packet_lifetime.or(Some(18));
    }
    e
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "None".to_string(), |v| format!("Some({v})"))
}

fn generate(dir: &Path) -> String {
    let index = read_index(dir);
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("vectors/")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".hex").map(str::to_string))
        .collect();
    names.sort();
    let mut s = String::new();
    writeln!(s, "// Generated by build.rs from vectors/*.hex and vectors/index.tsv.").unwrap();
    writeln!(s, "pub static VECTORS: [Vector; {}] = [", names.len()).unwrap();
    for name in &names {
        let ix = index.get(name).unwrap_or_else(|| panic!("{name} is not in vectors/index.tsv"));
        let bytes = read_hex(&dir.join(format!("{name}.hex")));
        let is_path_answer = ix.attribute == 0x0035
            && ix.status == 0
            && (ix.method == 0x81 || ix.method == 0x92)
            && !name.contains("empty");
        let path = if is_path_answer {
            let e = path_expect(name, ix.phase);
            format!(
                "Some(PathExpect {{ slid: {}, dlid: {}, mtu: {}, rate: {}, sl: {}, packet_lifetime: {} }})",
                opt(e.slid),
                opt(e.dlid),
                opt(e.mtu),
                opt(e.rate),
                opt(e.sl),
                opt(e.packet_lifetime)
            )
        } else {
            "None".to_string()
        };
        let trap = name
            .split('_')
            .find_map(|w| w.strip_prefix("trap").and_then(|n| n.parse::<u16>().ok()))
            .filter(|_| ix.attribute == 0x0002 || ix.attribute == 0x0003);
        let records = if name.contains("empty") { "Some(0)" } else { "None" };
        writeln!(s, "    Vector {{").unwrap();
        writeln!(s, "        name: {name:?},").unwrap();
        writeln!(s, "        method: {:#04x},", ix.method).unwrap();
        writeln!(s, "        attribute: {:#06x},", ix.attribute).unwrap();
        writeln!(s, "        status: {:#06x},", ix.status).unwrap();
        writeln!(s, "        path: {path},").unwrap();
        writeln!(s, "        trap: {},", opt(trap)).unwrap();
        writeln!(s, "        records: {records},").unwrap();
        write!(s, "        mad: [").unwrap();
        for (i, b) in bytes.iter().enumerate() {
            if i % 16 == 0 {
                write!(s, "\n            ").unwrap();
            }
            write!(s, "{b:#04x}, ").unwrap();
        }
        writeln!(s, "\n        ],").unwrap();
        writeln!(s, "    }},").unwrap();
    }
    writeln!(s, "];").unwrap();
    s
}
