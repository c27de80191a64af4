//! Any bytes into the ibacm client protocol codec, as the daemon's ACM socket reads a stream:
//! requests (`decode_request`, called again on what follows each framed message) and, for the
//! client side, answers (`decode_response`).
//!
//! Invariants, beyond "no panic": a message never claims more bytes than the input holds, at
//! least a header and at most `MSG_MAX` (or `RESPONSE_MAX`); `NeedMore` asks for more than is
//! there, never more than a message can be; a refused request is answered with a header that
//! echoes its tid; and every decoded request or answer re-encodes to bytes that decode to the
//! same value, in exactly the encoded length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localsa::server::acm::{
    decode_request, decode_response, AcmError, AcmHeader, Decoded, DecodedResponse, ErrorAction, HDR_LEN,
    MSG_MAX, RESPONSE_MAX,
};

/// Decodes the requests at the start of `data` one after another, as the server does.
fn requests(mut data: &[u8]) {
    for _ in 0..64 {
        match decode_request(data) {
            Ok(Decoded::NeedMore { total }) => {
                assert!(total > data.len() && total <= MSG_MAX, "NeedMore {total} with {} bytes", data.len());
                return;
            }
            Ok(Decoded::Complete { request, consumed }) => {
                assert!(
                    (HDR_LEN..=data.len().min(MSG_MAX)).contains(&consumed),
                    "consumed {consumed} of {}",
                    data.len()
                );
                if let Ok(bytes) = request.encode() {
                    match decode_request(&bytes) {
                        Ok(Decoded::Complete { request: again, consumed }) => {
                            assert_eq!(again, request, "decode(encode(x)) != x");
                            assert_eq!(consumed, bytes.len(), "an encoded request is one whole message");
                        }
                        other => panic!("{request:?} encoded to {bytes:02x?}, which decodes to {other:?}"),
                    }
                }
                data = &data[consumed..];
            }
            Err(e) => {
                if let AcmError::Rejected { header, .. } = &e {
                    let answer = e.error_response().expect("a rejected request is answered");
                    let parsed = AcmHeader::parse(&answer).expect("the answer is a header");
                    assert_eq!(parsed.tid, header.tid, "the answer echoes the tid");
                    assert_ne!(parsed.status, 0, "a refusal carries a status");
                }
                match e.action() {
                    ErrorAction::Answer { consumed, .. } => {
                        assert!(
                            (HDR_LEN..=data.len()).contains(&consumed),
                            "consumed {consumed} of {}",
                            data.len()
                        );
                        data = &data[consumed..];
                    }
                    ErrorAction::Disconnect => return,
                }
            }
        }
    }
}

fn responses(data: &[u8]) {
    match decode_response(data) {
        Ok(DecodedResponse::NeedMore { total }) => {
            assert!(
                total > data.len() && total <= RESPONSE_MAX,
                "NeedMore {total} with {} bytes",
                data.len()
            );
        }
        Ok(DecodedResponse::Complete { response, consumed }) => {
            assert!((HDR_LEN..=data.len()).contains(&consumed), "consumed {consumed} of {}", data.len());
            if let Ok(bytes) = response.encode() {
                match decode_response(&bytes) {
                    Ok(DecodedResponse::Complete { response: again, consumed }) => {
                        assert_eq!(again, response, "decode(encode(x)) != x");
                        assert_eq!(consumed, bytes.len(), "an encoded answer is one whole message");
                    }
                    other => panic!("{response:?} encoded to {bytes:02x?}, which decodes to {other:?}"),
                }
            }
        }
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    requests(data);
    responses(data);
});
