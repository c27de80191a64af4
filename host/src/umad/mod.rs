//! The kernel MAD interface: `/dev/infiniband/umadN` and its sysfs description.
//!
//! [`abi`] is the ABI and the only `unsafe` in the crate; [`sysfs`] finds ports and reads their
//! attributes; [`port`] opens a port, registers the SA agent and moves MADs.

pub mod abi;
pub mod port;
pub mod sysfs;

pub use port::{Received, Registration, UmadError, UmadPort};
pub use sysfs::{list_ports, PortAttributes, SysfsError};
