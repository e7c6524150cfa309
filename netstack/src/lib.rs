//! netstack: userspace networking for rootless containers, on smoltcp.
//!
//! Theory of operation: a TAP device inside the container's network
//! namespace is driven from the host network namespace by a smoltcp
//! interface; TCP and UDP flows are translated to host sockets (NAT), and
//! published ports are host listeners forwarded into the container.
//!
//! Status: the crate is a placeholder until the netstack issue lands.
