//! One port the daemon serves: its engine, its umad handle, what sysfs said about it last, and
//! what the daemon counted for it. The engine thread holds one per port, in the order of
//! `--port`; requests reach them by [`super::route`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use localsa_core::engine::LocalPort;

use super::port::DeviceInfo;
use super::runtime::HostEngine;
use super::stats::PortCounters;
use crate::umad::{PortAttributes, UmadPort};

/// What start-up prepares for a port before its engine exists (the engine is built on the
/// engine thread).
#[derive(Debug)]
pub struct PortParts {
    /// The port, for sending.
    pub umad: Arc<UmadPort>,
    /// Its attributes at start.
    pub attrs: PortAttributes,
    /// Its device.
    pub device: DeviceInfo,
    /// MADs its reader had to drop.
    pub dropped: Arc<AtomicU64>,
}

/// A served port, with its engine.
#[derive(Debug)]
pub struct Served<'e> {
    /// The port's engine (on the heap: about 20 MiB each).
    pub engine: &'e mut HostEngine,
    /// The port, for sending.
    pub umad: Arc<UmadPort>,
    /// Its attributes as last read.
    pub attrs: PortAttributes,
    /// Its device.
    pub device: DeviceInfo,
    /// What the daemon counted for it.
    pub counters: PortCounters,
    /// MADs its reader had to drop.
    pub dropped: Arc<AtomicU64>,
    /// A failure to read its attributes was logged (and not yet followed by a success).
    pub error_logged: bool,
}

impl<'e> Served<'e> {
    /// Joins a port's parts with its engine.
    pub fn new(engine: &'e mut HostEngine, parts: PortParts) -> Served<'e> {
        Served {
            engine,
            umad: parts.umad,
            attrs: parts.attrs,
            device: parts.device,
            counters: PortCounters::default(),
            dropped: parts.dropped,
            error_logged: false,
        }
    }

    /// The port as its engine knows it.
    pub fn local(&self) -> &LocalPort {
        self.engine.port()
    }

    /// The umad index (`umadN`), the port's name in the protocols.
    pub fn umad(&self) -> u32 {
        self.attrs.umad_index
    }

    /// The counters with the reader's drops folded in.
    pub fn counters(&self) -> PortCounters {
        PortCounters { mads_dropped: self.dropped.load(Ordering::Relaxed), ..self.counters }
    }
}
