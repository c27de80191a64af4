//! An open umad port with one registered SA-class agent: send and receive MADs with their
//! addresses.

use std::fmt;
use std::time::Duration;

use localsa_core::wire::{Gid, Grh, MadAddress, MAD_LEN};
use nix::errno::Errno;
use zerocopy::byteorder::big_endian::{U16 as BeU16, U32 as BeU32};
use zerocopy::{FromBytes, IntoBytes};

use super::abi::{
    self, RegisterRequest, RegisterRequest2, UmadFd, UserMadHeader, HEADER_LEN, LEGACY_HEADER_LEN,
};
use super::sysfs::PortAttributes;

/// The SA management class and class version.
const SA_CLASS: u8 = 0x03;
const SA_CLASS_VERSION: u8 = 2;

/// How RMPP was arranged with the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Registration {
    /// `REGISTER_AGENT2` with `USER_RMPP`: the kernel passes every segment to us (real kernels).
    UserRmpp,
    /// `REGISTER_AGENT` with `rmpp_version` 0: no kernel RMPP at all (the ibsim shim, old kernels).
    Legacy,
    /// `REGISTER_AGENT2` with `rmpp_version` 1 and no `USER_RMPP`: the kernel does RMPP and
    /// hands us reassembled MADs (test peers only).
    KernelRmpp,
}

/// What went wrong talking to the umad device.
#[derive(Debug)]
pub enum UmadError {
    /// Opening the device failed.
    Open { path: String, errno: Errno },
    /// Neither registration form was accepted.
    Register { agent2: Errno, agent: Errno },
    /// Writing a MAD failed.
    Send(Errno),
    /// Reading or polling failed.
    Recv(Errno),
    /// A MAD to send is larger than one MAD.
    TooLong(usize),
}

impl fmt::Display for UmadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UmadError::Open { path, errno } => write!(f, "cannot open {path}: {}", errno.desc()),
            UmadError::Register { agent2, agent } => write!(
                f,
                "cannot register an SA agent: REGISTER_AGENT2: {}, REGISTER_AGENT: {}",
                agent2.desc(),
                agent.desc()
            ),
            UmadError::Send(e) => write!(f, "umad send: {}", e.desc()),
            UmadError::Recv(e) => write!(f, "umad receive: {}", e.desc()),
            UmadError::TooLong(n) => write!(f, "MAD of {n} bytes does not fit one send"),
        }
    }
}

impl std::error::Error for UmadError {}

/// A MAD read from the device.
#[derive(Debug, Clone)]
pub struct Received {
    /// The sender (for a failed send of ours, the destination).
    pub from: MadAddress,
    /// 0, or the errno of one of our sends that failed (ETIMEDOUT when the kernel stopped
    /// waiting for a response); `mad` then holds the MAD we sent.
    pub status: u32,
    /// The MAD (one 256-byte MAD, or a reassembled RMPP transfer under kernel RMPP).
    pub mad: Vec<u8>,
}

/// An open umad device with one SA agent registered.
#[derive(Debug)]
pub struct UmadPort {
    fd: UmadFd,
    /// 64 with `pkey_index`, or the legacy 56.
    header_len: usize,
    agent_id: u32,
    registration: Registration,
    attributes: PortAttributes,
}

impl UmadPort {
    /// Opens the port's device and registers an SA agent receiving the unsolicited request
    /// `methods` (e.g. Report, and Get/GetTable in replica mode). `kernel_rmpp` asks the kernel
    /// to do RMPP (test peers); otherwise RMPP stays ours: `REGISTER_AGENT2` + `USER_RMPP`,
    /// falling back to `REGISTER_AGENT` with `rmpp_version` 0 where AGENT2 is refused.
    pub fn open(
        attributes: PortAttributes,
        methods: &[u8],
        kernel_rmpp: bool,
    ) -> Result<UmadPort, UmadError> {
        let path = attributes.device_path();
        let fd = UmadFd::open(&path).map_err(|errno| UmadError::Open { path: path.clone(), errno })?;
        let raw = fd.raw();
        let header_len = match abi::enable_pkey(raw) {
            Ok(()) => match abi::preloaded_umad_size() {
                Some(n) if n == LEGACY_HEADER_LEN || n == HEADER_LEN => n,
                _ => HEADER_LEN,
            },
            Err(e) => {
                log::info!("{path}: ENABLE_PKEY refused ({}): legacy header, P_Key index 0", e.desc());
                LEGACY_HEADER_LEN
            }
        };
        let mut req2 = RegisterRequest2 {
            qpn: 1,
            mgmt_class: SA_CLASS,
            mgmt_class_version: SA_CLASS_VERSION,
            flags: if kernel_rmpp { 0 } else { abi::USER_RMPP },
            method_mask: abi::method_mask_words(methods),
            rmpp_version: 1,
            ..Default::default()
        };
        let (agent_id, registration) = match abi::register_agent2(raw, &mut req2) {
            Ok(()) => (req2.id, if kernel_rmpp { Registration::KernelRmpp } else { Registration::UserRmpp }),
            Err(agent2) => {
                let mut req = RegisterRequest {
                    method_mask: abi::method_mask_bytes(methods),
                    qpn: 1,
                    mgmt_class: SA_CLASS,
                    mgmt_class_version: SA_CLASS_VERSION,
                    rmpp_version: u8::from(kernel_rmpp),
                    ..Default::default()
                };
                abi::register_agent(raw, &mut req).map_err(|agent| UmadError::Register { agent2, agent })?;
                log::info!("{path}: REGISTER_AGENT2 refused ({}), using REGISTER_AGENT", agent2.desc());
                (req.id, if kernel_rmpp { Registration::KernelRmpp } else { Registration::Legacy })
            }
        };
        log::info!("{path}: SA agent {agent_id} registered ({registration:?}, {header_len}-byte header)");
        Ok(UmadPort { fd, header_len, agent_id, registration, attributes })
    }

    /// The port's attributes as read at open.
    pub fn attributes(&self) -> &PortAttributes {
        &self.attributes
    }

    /// How RMPP was arranged with the kernel.
    pub fn registration(&self) -> Registration {
        self.registration
    }

    /// Bytes of `ib_user_mad` header in front of every MAD on this device: 64 after
    /// `ENABLE_PKEY` (real kernels), 56 for the legacy header (the ibsim shim).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The agent id the kernel gave our registration.
    pub fn agent_id(&self) -> u32 {
        self.agent_id
    }

    /// Sends one MAD to `to`. For a request, `timeout_ms` > 0 makes the kernel match the
    /// response (a real kernel drops responses to requests it is not waiting for); 0 otherwise.
    pub fn send(&self, to: &MadAddress, mad: &[u8], timeout_ms: u32) -> Result<(), UmadError> {
        self.send_with_retries(to, mad, timeout_ms, 0)
    }

    /// [`Self::send`] with the kernel retrying `retries` times: a request without a response
    /// within `timeout_ms` is resent; under kernel RMPP ([`Registration::KernelRmpp`]) a
    /// segment window without an ACK within 2 s (or `timeout_ms`, if shorter) is resent.
    pub fn send_with_retries(
        &self,
        to: &MadAddress,
        mad: &[u8],
        timeout_ms: u32,
        retries: u32,
    ) -> Result<(), UmadError> {
        if mad.len() > MAD_LEN && self.registration != Registration::KernelRmpp {
            return Err(UmadError::TooLong(mad.len()));
        }
        let grh = to.grh.unwrap_or(Grh {
            gid: Gid::ZERO,
            sgid_index: 0,
            hop_limit: 0,
            traffic_class: 0,
            flow_label: 0,
        });
        let header = UserMadHeader {
            id: self.agent_id,
            timeout_ms,
            retries,
            length: (self.header_len + mad.len()) as u32,
            qpn: BeU32::new(to.qpn),
            qkey: BeU32::new(to.qkey),
            lid: BeU16::new(to.lid),
            sl: to.sl,
            grh_present: u8::from(to.grh.is_some()),
            gid_index: grh.sgid_index,
            hop_limit: grh.hop_limit,
            traffic_class: grh.traffic_class,
            gid: grh.gid.0,
            flow_label: BeU32::new(grh.flow_label),
            pkey_index: to.pkey_index,
            ..Default::default()
        };
        let mut buf = Vec::with_capacity(HEADER_LEN + mad.len());
        buf.extend_from_slice(&header.as_bytes()[..self.header_len]);
        buf.extend_from_slice(mad);
        loop {
            match abi::write(self.fd.raw(), &buf) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(UmadError::Send(e)),
            }
        }
    }

    /// Waits up to `timeout` for a MAD and reads it. `Ok(None)` on timeout.
    ///
    /// Polls the umad fd alone: under the ibsim shim a poll set with a umad fd waits on that fd
    /// only, so this belongs on a thread of its own.
    pub fn recv(&self, timeout: Duration) -> Result<Option<Received>, UmadError> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        match self.fd.poll_readable(ms) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(Errno::EINTR) => return Ok(None),
            Err(e) => return Err(UmadError::Recv(e)),
        }
        let mut buf = vec![0u8; self.header_len + MAD_LEN];
        loop {
            match abi::read(self.fd.raw(), &mut buf) {
                Ok(n) => return Ok(parse_received(&buf[..n], self.header_len)),
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => return Ok(None),
                // A reassembled transfer larger than the buffer: the kernel wrote the header
                // with the full length and keeps the MAD for the next read.
                Err(Errno::ENOSPC) => {
                    let needed =
                        UserMadHeader::read_from_prefix(&buf).map(|(h, _)| h.length as usize).unwrap_or(0);
                    if needed <= buf.len() || needed > (1 << 24) {
                        return Err(UmadError::Recv(Errno::ENOSPC));
                    }
                    buf.resize(needed, 0);
                }
                Err(e) => return Err(UmadError::Recv(e)),
            }
        }
    }
}

impl Drop for UmadPort {
    fn drop(&mut self) {
        let _ = abi::unregister_agent(self.fd.raw(), self.agent_id);
    }
}

/// Splits a read into address, status and MAD. Reads shorter than a header are dropped.
fn parse_received(bytes: &[u8], header_len: usize) -> Option<Received> {
    let head = bytes.get(..header_len)?;
    let rest = &bytes[header_len..];
    // The legacy header is the new one without its last 8 bytes (pkey_index, reserved).
    let mut full = [0u8; HEADER_LEN];
    full[..header_len].copy_from_slice(head);
    let h = UserMadHeader::read_from_bytes(&full[..]).ok()?;
    let len = (h.length as usize).saturating_sub(header_len).min(rest.len());
    let grh = (h.grh_present != 0).then(|| Grh {
        gid: Gid(h.gid),
        sgid_index: h.gid_index,
        hop_limit: h.hop_limit,
        traffic_class: h.traffic_class,
        flow_label: h.flow_label.get(),
    });
    Some(Received {
        from: MadAddress {
            lid: h.lid.get(),
            qpn: h.qpn.get(),
            qkey: h.qkey.get(),
            sl: h.sl,
            pkey_index: h.pkey_index,
            grh,
        },
        status: h.status,
        mad: rest[..len].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_header_is_parsed_and_bounded() {
        let mut h = UserMadHeader { length: (HEADER_LEN + 256) as u32, ..Default::default() };
        h.lid.set(7);
        h.qpn.set(1);
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(&[0xab; 100]); // shorter than the header claims
        let r = parse_received(&bytes, HEADER_LEN).unwrap();
        assert_eq!((r.from.lid, r.from.qpn, r.mad.len()), (7, 1, 100));
        assert!(parse_received(&bytes[..10], HEADER_LEN).is_none());
        // The legacy header: the same fields, 8 bytes shorter.
        let mut legacy = h.as_bytes()[..LEGACY_HEADER_LEN].to_vec();
        legacy.extend_from_slice(&[0xcd; 256]);
        let r = parse_received(&legacy, LEGACY_HEADER_LEN).unwrap();
        assert_eq!((r.from.lid, r.mad.len(), r.mad[0]), (7, 256 - 8 + 8, 0xcd));
    }
}
