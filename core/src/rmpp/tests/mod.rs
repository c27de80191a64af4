//! Tests of the RMPP layer as a whole: scenarios over a lossy channel, hand-built vectors for
//! every STOP/ABORT path, a proptest of hostile input, and the memory figures.

mod fuzz;
mod linux_model;
mod scenario;
mod sizes;
mod support;
mod vectors;
