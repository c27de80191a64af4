//! Runs the real InfiniBand peers on a simulated fabric (work in progress: topologies, MAD dump
//! parsing and leftover detection first; the fabric runner follows).

pub mod capture;
mod error;
mod leftovers;
pub mod topology;

pub use capture::{
    parse_packet_dumps, CapturedMad, ATTR_INFORM_INFO, ATTR_NOTICE, ATTR_PATH_RECORD, MAD_SIZE, METHOD_GET,
    METHOD_GET_TABLE, METHOD_REPORT, METHOD_SET, MGMT_CLASS_SA,
};
pub use error::{Error, Result};
pub use leftovers::{assert_no_leftovers, processes_with_sockname, wait_no_leftovers, LeftoverProcess};
pub use topology::{
    ExtLinkSpeed, FatTreeShape, Link, LinkOptions, LinkSpeed, LinkWidth, Node, NodeId, NodeKind, Topology,
    MAX_HOPS, MAX_NAME_LEN, MAX_NODES, MAX_PORTS, MAX_SWITCHES, SWITCH_RADIX,
};
