//! Link simulation, in one place. A [`LinkConditioner`] says how a one-way link mistreats
//! packets; a `Link` (`one_way.rs`) carries them that way, its random choices drawn from a
//! seeded [`SplitMix64`]. Three connections run through it:
//!
//! - the test network's, server to each client and back (`testing::TestNet`);
//! - a client's own traffic over a real connection, [`SimulatedLink`] (`client_link.rs`);
//! - every datagram a server transport receives and sends, `SimulatedDatagrams`
//!   (`server_datagrams.rs`).

#[cfg(feature = "client")]
mod client_link;
mod conditioner;
mod one_way;
mod rng;
#[cfg(all(feature = "server", feature = "netcode"))]
mod server_datagrams;

#[cfg(feature = "client")]
pub use client_link::SimulatedLink;
pub use conditioner::LinkConditioner;
pub use one_way::LinkTraffic;
pub use rng::SplitMix64;

#[cfg(feature = "client")]
pub(crate) use client_link::{ServerSender, flush_simulated_link};
#[cfg(feature = "test_utils")]
pub(crate) use one_way::Link;
#[cfg(all(feature = "server", feature = "netcode"))]
pub(crate) use server_datagrams::{Outgoing, SimulatedDatagrams};
