//! `localsa`, the host side: binds `localsa-core` to the kernel's umad interface, serves local
//! clients, and provides the command-line tools. The binary is a thin wrapper over [`cli`].

pub mod capture;
pub mod cli;
pub mod daemon;
pub mod server;
pub mod umad;
