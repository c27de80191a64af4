//! `--pcap FILE`: every MAD sent and received, as Wireshark/tshark read InfiniBand.
//!
//! Writes are buffered and flushed after each batch the engine thread handles, so the file is
//! current whenever the daemon is idle. A write error stops the capture (logged once) rather
//! than the daemon: a full disk must not take path resolution down with it.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use localsa_core::wire::{MadAddress, MAD_LEN};

use crate::capture::{Direction, PcapWriter};

/// An open capture file.
#[derive(Debug)]
pub struct Capture {
    path: PathBuf,
    writer: Option<PcapWriter<BufWriter<File>>>,
    dirty: bool,
}

impl Capture {
    /// Creates (truncates) `path`; `local_lid` fills our side of each packet's LRH.
    pub fn create(path: &Path, local_lid: u16) -> std::io::Result<Capture> {
        let writer = PcapWriter::new(BufWriter::new(File::create(path)?), local_lid)?;
        log::info!("capturing MADs path={}", path.display());
        Ok(Capture { path: path.to_owned(), writer: Some(writer), dirty: true })
    }

    /// Records one MAD. A MAD is 256 bytes on the wire; a shorter read (the ibsim shim passes
    /// on the length the sender wrote, e.g. 120 bytes for one PathRecord) is zero-padded, so
    /// that decoders see what the wire would have carried.
    pub fn record(&mut self, direction: Direction, peer: &MadAddress, mad: &[u8]) {
        let Some(w) = &mut self.writer else { return };
        let mut padded = [0u8; MAD_LEN];
        let mad = if mad.len() < MAD_LEN {
            padded[..mad.len()].copy_from_slice(mad);
            &padded[..]
        } else {
            mad
        };
        if let Err(e) = w.write_mad(direction, peer, mad) {
            self.fail(e);
        } else {
            self.dirty = true;
        }
    }

    /// Pushes buffered packets to the file.
    pub fn flush(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        if let Some(w) = &mut self.writer {
            if let Err(e) = w.flush() {
                self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        log::error!("pcap capture stopped path={} error={e}", self.path.display());
        self.writer = None;
    }
}
