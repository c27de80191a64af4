//! Serving local clients. For now the pure protocol layer: the ibacm client protocol
//! ([`acm`]) and the `ibacm_hosts.data` resolver ([`hosts`]); the socket loop comes later.

pub mod acm;
pub mod hosts;
