//! The captured OpenSM MADs of `vectors/`, embedded by `build.rs`, decoded on the target.
//!
//! Every vector must pass the SA checks and decode its headers and records; its Method,
//! AttributeID and status must be what `vectors/index.tsv` says, and its first record what its
//! name says (LIDs, GIDs, MTU, rate, SL and packet lifetime of a PathRecord answer, the trap
//! number of a Notice or InformInfo). Each decoded PathRecord must encode back to a record that
//! decodes the same.

use localsa_core::wire::{Gid, Origin, PathRecordRepr, SaAttribute, SaMad, SaPacket, SaRecord, MAD_LEN};

/// The port GID of each HCA LID in the capture fabric (vectors/README.md): fe80:: + port GUID.
fn gid_of_vector_lid(lid: u16) -> Gid {
    let guid = match lid {
        1 => 0x10_0001,
        4 => 0x10_0003,
        5 => 0x10_0005,
        6 => 0x10_0007,
        7 => 0x10_0009,
        8 => 0x10_000b,
        _ => 0,
    };
    Gid::new(0xfe80_0000_0000_0000, guid)
}

/// What a PathRecord answer's name says about its first record.
#[derive(Debug)]
pub struct PathExpect {
    pub slid: Option<u16>,
    pub dlid: Option<u16>,
    pub mtu: Option<u16>,
    pub rate: Option<u8>,
    pub sl: Option<u8>,
    pub packet_lifetime: Option<u8>,
}

/// One vector and what is known about it.
#[derive(Debug)]
pub struct Vector {
    pub name: &'static str,
    pub method: u8,
    pub attribute: u16,
    pub status: u16,
    pub path: Option<PathExpect>,
    pub trap: Option<u16>,
    pub records: Option<usize>,
    pub mad: [u8; MAD_LEN],
}

include!(concat!(env!("OUT_DIR"), "/vectors.rs"));

pub fn run() {
    let mut records = 0usize;
    let mut paths = 0usize;
    let mut failed_records = 0usize;
    for v in &VECTORS {
        let (r, p, f) = check_one(v);
        records += r;
        paths += p;
        failed_records += f;
    }
    say!(
        "vectors: {} OpenSM MADs decoded, {} records ({} not decodable), {} PathRecord answers checked by name",
        VECTORS.len(),
        records,
        failed_records,
        paths
    );
}

/// Decodes one vector; returns (records decoded, PathRecord answers checked, records that
/// failed to decode).
fn check_one(v: &Vector) -> (usize, usize, usize) {
    let packet = match SaPacket::new_checked(&v.mad[..]) {
        Ok(p) => p,
        Err(_) => {
            check!(false, "{}: not an SA MAD", v.name);
            return (0, 0, 0);
        }
    };
    let Ok(mad) = SaMad::parse(&packet) else {
        check!(false, "{}: headers do not decode", v.name);
        return (0, 0, 0);
    };
    check!(
        mad.header.method.raw() == v.method,
        "{}: method {} expected {}",
        v.name,
        mad.header.method.raw(),
        v.method
    );
    check!(
        mad.header.attribute_id.raw() == v.attribute,
        "{}: attribute {} expected {}",
        v.name,
        mad.header.attribute_id.raw(),
        v.attribute
    );
    check!(
        mad.header.status.0 == v.status,
        "{}: status {} expected {}",
        v.name,
        mad.header.status.0,
        v.status
    );
    let Ok(records) = packet.records() else {
        check!(false, "{}: records cannot be located", v.name);
        return (0, 0, 0);
    };
    let (mut ok, mut bad, mut paths) = (0usize, 0usize, 0usize);
    for (i, record) in records.enumerate() {
        let Ok(record) = record else {
            bad += 1;
            continue;
        };
        ok += 1;
        if let SaRecord::PathRecord(pr) = &record {
            // encode(decode(x)) decodes to the same record.
            let mut b = [0u8; 64];
            let again = pr.encode(&mut b).ok().and_then(|_| PathRecordRepr::decode(&b).ok());
            check!(again.as_ref() == Some(pr), "{}: record {} does not survive a round trip", v.name, i);
        }
        if i > 0 {
            continue;
        }
        if let (Some(e), SaRecord::PathRecord(pr)) = (&v.path, &record) {
            paths += 1;
            check_path(v.name, e, pr);
        }
        if let Some(trap) = v.trap {
            let origin = match &record {
                SaRecord::Notice(n) => Some(n.origin),
                SaRecord::InformInfo(ii) => Some(ii.origin),
                _ => None,
            };
            let found = match origin {
                Some(Origin::Generic { trap_number, .. }) => trap_number.raw(),
                _ => 0,
            };
            check!(found == trap, "{}: trap {} expected {}", v.name, found, trap);
        }
    }
    if let Some(n) = v.records {
        check!(ok + bad == n, "{}: {} records, expected {}", v.name, ok + bad, n);
    }
    (ok, paths, bad)
}

fn check_path(name: &str, e: &PathExpect, pr: &PathRecordRepr) {
    if let Some(slid) = e.slid {
        check!(pr.slid == slid, "{}: SLID {} expected {}", name, pr.slid, slid);
        check!(pr.sgid == gid_of_vector_lid(slid), "{}: SGID is not LID {}'s", name, slid);
    }
    if let Some(dlid) = e.dlid {
        check!(pr.dlid == dlid, "{}: DLID {} expected {}", name, pr.dlid, dlid);
        check!(pr.dgid == gid_of_vector_lid(dlid), "{}: DGID is not LID {}'s", name, dlid);
    }
    if let Some(mtu) = e.mtu {
        let got = pr.mtu.bytes().unwrap_or(0);
        check!(got == mtu, "{}: MTU {} expected {}", name, got, mtu);
    }
    if let Some(rate) = e.rate {
        check!(pr.rate.raw() == rate, "{}: rate code {} expected {}", name, pr.rate.raw(), rate);
    }
    if let Some(sl) = e.sl {
        check!(pr.sl == sl, "{}: SL {} expected {}", name, pr.sl, sl);
    }
    if let Some(life) = e.packet_lifetime {
        check!(
            pr.packet_lifetime.0 == life,
            "{}: PacketLifeTime {} expected {}",
            name,
            pr.packet_lifetime.0,
            life
        );
    }
}
