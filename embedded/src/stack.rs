//! Stack high-water mark by painting: at start, every word between the end of the statics and
//! the current stack pointer gets a known pattern; at the end, the lowest word that lost it is
//! as deep as the stack went.
//!
//! This is the firmware's only `unsafe`: reading and writing RAM that no Rust object owns (the
//! free stack below the stack pointer) cannot be done otherwise.
#![allow(unsafe_code)]

use core::ptr::addr_of;

extern "C" {
    /// cortex-m-rt's link.x: the first address after `.bss` and `.uninit` (where a heap would
    /// start; this firmware has none, so it is the floor of the stack).
    static __sheap: u32;
    /// cortex-m-rt's link.x: the initial stack pointer, the top of RAM.
    static _stack_start: u32;
}

const PAINT: u32 = 0x5afe_c0de;
/// Words just below the stack pointer left alone, for the frame of `paint` itself.
const MARGIN: usize = 64;

fn floor() -> usize {
    addr_of!(__sheap) as usize
}

/// The top of the stack (the end of RAM).
pub fn top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Paints the free stack. Call first thing in `main`; returns the stack in use then.
#[inline(never)]
pub fn paint() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = floor().next_multiple_of(4);
    while p + MARGIN < sp {
        // SAFETY: `p` is word-aligned and lies between the end of the statics (`__sheap`) and
        // below the current stack pointer minus a margin: RAM of this device that no static
        // and no live stack frame uses, and no interrupt handler runs during the paint.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
    top() - sp
}

/// Bytes of stack used at most since [`paint`]: from the top of RAM down to the lowest word
/// that no longer holds the pattern.
#[inline(never)]
pub fn high_water() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = floor().next_multiple_of(4);
    while p < sp {
        // SAFETY: as in `paint`: an aligned word of RAM between the statics and the stack
        // pointer. Reading it has no effect on any Rust object.
        if unsafe { (p as *const u32).read_volatile() } != PAINT {
            break;
        }
        p += 4;
    }
    top() - p
}

/// Bytes between the end of the statics and the top of RAM: all the stack there can be.
pub fn room() -> usize {
    top() - floor()
}
