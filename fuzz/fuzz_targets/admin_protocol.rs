//! Any bytes into the admin protocol, as the daemon reads a client's buffer: split into lines,
//! each through `parse_request` (the daemon's own decoder), then the conversions the daemon
//! applies to each operation (a resolve's query, a pinned path's record and context, a flush's
//! target, a deletion's GIDs).
//!
//! Invariants, beyond "no panic": a decoded request serializes (as the `localsa` client sends
//! it) to a line that decodes to the same request and `id`; a path accepted for `add` prints
//! (as `dump` shows it) to JSON that reads back to the same path and record; a resolve's query
//! names a destination and a source and passes the wire codec's width checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localsa::daemon::protocol::{parse_gid, parse_request, PathJson, Request};
use localsa_core::engine::LocalPort;
use localsa_core::table::Context;
use localsa_core::wire::path_record::Record;
use localsa_core::wire::{Gid, PathRecordMask as M};
use serde_json::Value;

fn line(bytes: &[u8]) {
    let Ok((id, request)) = parse_request(bytes) else { return };
    // What the client would send for this request: the same request back.
    let mut value = serde_json::to_value(&request).expect("a request serializes");
    if let Value::Object(map) = &mut value {
        map.insert("id".into(), id.clone());
    }
    let text = serde_json::to_string(&value).expect("JSON prints");
    assert!(!text.contains('\n'), "a request is one line");
    match parse_request(text.as_bytes()) {
        Ok((id2, again)) => {
            assert_eq!(again, request, "{text}");
            assert_eq!(id2, id, "{text}");
        }
        Err((_, e)) => panic!("{request:?} serialized to {text}, which fails: {e}"),
    }
    match &request {
        Request::Resolve(p) => {
            let local = LocalPort::infiniband(8, Gid::new(0xfe80 << 48, 8), 1);
            if let Ok((q, _)) = p.to_query(&local) {
                assert!(q.mask.intersects(M::DGID | M::DLID), "{q:?} has no destination");
                assert!(q.mask.intersects(M::SGID | M::SLID), "{q:?} has no source");
                let mut r = Record::ZEROED;
                q.template.emit(&mut r).expect("to_query checked the widths");
            }
        }
        Request::Add(p) => {
            let _ = Context::from(p.context.clone());
            if let Ok(repr) = p.path.to_repr() {
                let record = p.path.to_record().expect("to_repr accepted it");
                let shown = serde_json::to_string(&PathJson::from(&repr)).expect("a path prints");
                let back: PathJson = serde_json::from_str(&shown).expect("a printed path reads back");
                assert_eq!(back.to_repr().as_ref(), Ok(&repr), "{shown}");
                assert_eq!(back.to_record().ok(), Some(record), "{shown}");
            }
        }
        Request::Flush(p) => {
            let _ = p.target();
        }
        Request::Del(sel) => {
            for g in [&sel.sgid, &sel.dgid].into_iter().flatten() {
                if let Ok(gid) = parse_gid(g) {
                    assert_eq!(parse_gid(&gid.to_string()), Ok(gid), "{g}");
                }
            }
        }
        Request::Reregister(_) => assert!(request.needs_privilege(), "reregister changes the cache"),
        Request::Dump(_) | Request::Stats(_) | Request::Events(_) | Request::Ports(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    for l in data.split(|&b| b == b'\n').take(16) {
        line(l);
    }
});
