//! Packet capture for debugging: MADs written as pcap files Wireshark and tshark open.

pub mod pcap;

pub use pcap::{Direction, PcapWriter};
