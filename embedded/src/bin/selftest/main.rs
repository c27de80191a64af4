//! localsa-core on an emulated Cortex-M3 (QEMU `lm3s6965evb`: 256 KiB flash, 64 KiB RAM, the
//! board the footprint budget is for).
//!
//! A self-test in the shape of a firmware: the engine lives in a `static` with the capacities a
//! small firmware would give it ([`FwEngine`]); a scripted SA runs in the same image and
//! answers over an in-memory "wire". The run
//!
//! 0. measures what each engine capacity costs on this target,
//! 1. decodes every captured OpenSM MAD of `vectors/` and checks what its name says,
//! 2. fills the engine's 256-entry table and looks entries up,
//! 3. drives the engine against the scripted SA: start-up (ClassPortInfo, trap subscriptions),
//!    a bulk fetch of 64 PathRecords reassembled from RMPP segments, miss → SA query → hit,
//!    coalescing, timeout and retry on a simulated clock, the SA going away and coming back,
//!    a trap invalidating a path, a negative answer,
//! 4. feeds malformed MADs and random bytes, which must be refused with typed errors,
//!
//! then reports the stack high-water marks (building the engine, running it) and exits through
//! semihosting with success or failure, which QEMU turns into its exit status.
#![no_std]
#![no_main]

#[macro_use]
mod out;
mod engine_run;
mod malformed;
mod sa;
mod sizes;
mod table_run;
mod vectors;

#[cfg(feature = "defmt")]
use defmt_semihosting as _;

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::debug;
use localsa_firmware::{stack, FwEngine, PENDING, RX_CAP, RX_SLOTS, TABLE, TX_CAP, TX_SLOTS, WAITERS};
use static_cell::ConstStaticCell;

/// The engine, in `.bss`: `Engine::EMPTY` is all zero bytes, and `start` configures it in
/// place, so nothing engine-sized is ever built on the stack.
static ENGINE: ConstStaticCell<FwEngine> = ConstStaticCell::new(FwEngine::EMPTY);
/// The scripted SA (test scaffolding, not part of a product firmware), const-built (in `.data`:
/// its RMPP configuration is not all zero).
static SA: ConstStaticCell<sa::ScriptedSa> = ConstStaticCell::new(sa::ScriptedSa::new());

#[entry]
fn main() -> ! {
    let at_entry = stack::paint();
    let ok = run(at_entry);
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    #[allow(clippy::empty_loop)]
    loop {}
}

#[inline(never)]
fn run(at_entry: usize) -> bool {
    say!("localsa-core self-test on a Cortex-M3; stack room {} bytes", stack::room());
    say!(
        "engine: {} bytes static (table {} entries, {} pending, {} waiters, RMPP rx {}x{} B, tx {}x{} B)",
        core::mem::size_of::<FwEngine>(),
        TABLE,
        PENDING,
        WAITERS,
        RX_SLOTS,
        RX_CAP,
        TX_SLOTS,
        TX_CAP
    );

    sizes::run();
    vectors::run();

    let now = engine_run::START;
    let engine = build_engine(now);
    let construction = stack::high_water();
    say!(
        "engine built into its static; stack high-water so far {} bytes (Engine::start in place)",
        construction
    );
    // From here on: the stack the engine needs to run.
    stack::paint();
    let sa = SA.take();

    table_run::run(engine, now);
    let now = engine_run::run(engine, sa, now);
    malformed::run(engine, now);

    let (checks, failures) = out::tally();
    let high = stack::high_water();
    say!(
        "stack: {} bytes at entry, high-water {} bytes building the engine, {} bytes running it (room {} bytes)",
        at_entry,
        construction,
        high,
        stack::room()
    );
    if failures == 0 {
        say!("PASS: {} checks", checks);
    } else {
        say!("FAILED: {} of {} checks", failures, checks);
    }
    failures == 0
}

/// Writes the engine into its static.
#[inline(never)]
fn build_engine(now: localsa_core::time::Instant) -> &'static mut FwEngine {
    let engine = ENGINE.take();
    engine.start(now, localsa_firmware::config(), localsa_firmware::port());
    engine
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    #[cfg(not(feature = "defmt"))]
    cortex_m_semihosting::hprintln!("PANIC: {}", info);
    #[cfg(feature = "defmt")]
    defmt::println!("PANIC: {}", defmt::Display2Format(info));
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

// cortex-m-rt requires the HardFault handler to be an `unsafe fn`; it only reports and exits,
// so that a fault (e.g. a stack overflow running into the statics) fails the run at once
// instead of hanging QEMU until the test script's timeout.
#[allow(unsafe_code)]
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    say!("HARD FAULT at pc {}", frame.pc());
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
