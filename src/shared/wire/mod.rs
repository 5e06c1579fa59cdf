//! The wire format: byte-level primitives ([`Reader`], `write_*`) and the frames built from them.
//!
//! Nothing here touches a `World` or renet; every decoder takes `&[u8]` and returns a
//! `Result`, so malformed data is an error and never a panic.

mod frames;
mod reader;
mod writer;

pub use frames::*;
pub use reader::Reader;
pub use writer::*;
