//! The footprint of localsa-core in a firmware: only what a product image links. The engine
//! (capacities in the library: 256 table entries, one 64-record RMPP receive) lives in a
//! static and is driven by the sans-IO main loop, against stand-ins for the hardware: a
//! monotonic microsecond clock, a MAD send and a MAD receive function, and the local clients
//! that ask for paths. No formatting machinery, no test scaffolding: `scripts/test` measures
//! this image with `arm-none-eabi-size` against the budget and runs it for its stack
//! high-water mark.
//!
//! The stand-ins hide their values behind `core::hint::black_box`, so the compiler keeps every
//! path of the engine a real receive path and real clients would reach.
#![no_std]
#![no_main]

use core::hint::black_box;

#[cfg(feature = "defmt")]
use defmt_semihosting as _;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hio};
use localsa_core::engine::{Event, Resolve, ResolveFlags, Token};
use localsa_core::table::Query;
use localsa_core::time::{Duration, Instant};
use localsa_core::wire::{MadAddress, MAD_LEN};
use localsa_firmware::{gid, stack, FwEngine, ME};
use static_cell::ConstStaticCell;

/// The engine, in `.bss`: `Engine::EMPTY` is all zero bytes, and `start` configures it in
/// place, so nothing engine-sized is ever built on the stack.
static ENGINE: ConstStaticCell<FwEngine> = ConstStaticCell::new(FwEngine::EMPTY);

/// Turns of the main loop this image runs (one simulated millisecond each).
const TURNS: u32 = 3000;

/// Stand-in for a free-running microsecond timer (here: advanced by the loop).
struct Clock {
    micros: u64,
}

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(black_box(self.micros))
    }
}

/// Stand-in for the HCA's QP1: `send` hands a MAD to the hardware, `receive` takes one it
/// received. Here nothing arrives (the fabric is absent) and what is sent goes nowhere.
struct Nic {
    sent: u32,
}

impl Nic {
    fn send(&mut self, to: MadAddress, mad: &[u8], response_timeout: Option<Duration>) {
        black_box((to, mad, response_timeout));
        self.sent += 1;
    }

    fn receive(&mut self, buf: &mut [u8; MAD_LEN]) -> Option<(MadAddress, usize)> {
        black_box(&mut *buf);
        black_box(None)
    }
}

/// Stand-in for the local clients (an ACM socket, a verbs provider): a request now and then,
/// answers delivered back.
struct Clients {
    asked: u32,
    answered: u32,
    failed: u32,
}

impl Clients {
    fn next_request(&mut self, turn: u32) -> Option<(Token, Query)> {
        if turn % 100 != 0 {
            return None;
        }
        self.asked += 1;
        let dlid = black_box(2 + (turn / 100) as u16 % 30);
        Some((turn as Token, Query::between_gids(gid(ME), gid(dlid)).with_reversible().with_numb_path(1)))
    }

    fn deliver(&mut self, token: Token, ok: bool) {
        black_box(token);
        if ok {
            self.answered += 1;
        } else {
            self.failed += 1;
        }
    }
}

#[entry]
fn main() -> ! {
    stack::paint();
    let mut clock = Clock { micros: 10_000_000 };
    let mut nic = Nic { sent: 0 };
    let mut clients = Clients { asked: 0, answered: 0, failed: 0 };
    let engine = init(clock.now());
    let construction = stack::high_water();
    stack::paint();
    let mut buf = [0u8; MAD_LEN];
    let mut rx = [0u8; MAD_LEN];
    for turn in 0..TURNS {
        let now = clock.now();
        // Receive path: every MAD from QP1.
        while let Some((from, len)) = nic.receive(&mut rx) {
            engine.handle_mad(now, from, &rx[..len.min(MAD_LEN)]);
        }
        // Clients: answered at once from the table, or later through an event.
        if let Some((token, query)) = clients.next_request(turn) {
            match engine.resolve(now, &query, ResolveFlags::empty(), token) {
                Resolve::Answered(answer) => clients.deliver(token, !black_box(answer).records.is_empty()),
                Resolve::Failed(_) => clients.deliver(token, false),
                Resolve::Pending => {}
            }
        }
        // Timers.
        if engine.poll_at().is_some_and(|at| at <= now) {
            engine.handle_timeout(now);
        }
        // Transmit path.
        while let Some(t) = engine.poll_transmit(now, &mut buf) {
            nic.send(t.to, &buf[..t.len], t.response_timeout);
        }
        // Answers and notices.
        while let Some(event) = engine.poll_event() {
            if let Event::Resolved { token, result } = event {
                clients.deliver(token, black_box(result).is_ok());
            }
        }
        clock.micros += 1000;
    }
    report(&[
        ("turns ", TURNS as usize),
        (", MADs sent ", nic.sent as usize),
        (", resolves ", clients.asked as usize),
        (" (answered ", clients.answered as usize),
        (", failed ", clients.failed as usize),
        ("), engine ", core::mem::size_of::<FwEngine>()),
        (" bytes; stack high-water ", construction),
        (" bytes building the engine, ", stack::high_water()),
        (" bytes running it\n", usize::MAX),
    ]);
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Builds the engine into its static.
#[inline(never)]
fn init(now: Instant) -> &'static mut FwEngine {
    let engine = ENGINE.take();
    engine.start(now, localsa_firmware::config(), localsa_firmware::port());
    engine
}

/// Writes `text value` pairs (a value of `usize::MAX` is left out) through semihosting, without
/// `core::fmt`.
fn report(parts: &[(&str, usize)]) {
    let Ok(mut out) = hio::hstdout() else { return };
    for (text, value) in parts {
        let _ = out.write_all(text.as_bytes());
        if *value != usize::MAX {
            let mut digits = [0u8; 20];
            let mut i = digits.len();
            let mut v = *value;
            loop {
                i -= 1;
                digits[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            let _ = out.write_all(&digits[i..]);
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
