//! [`ProtocolHash`]: a fingerprint of everything both sides must agree on.

use bevy::prelude::*;

/// A 64-bit fingerprint of the protocol: the crate version, the wire layout's
/// [`WIRE_REVISION`](crate::shared::wire::WIRE_REVISION), and every registration
/// (replicated components with their codecs, messages with their channels), in order.
///
/// The client sends it on connect; a server with another fingerprint disconnects the client
/// with [`DisconnectReason::ProtocolMismatch`](crate::shared::disconnect::DisconnectReason).
/// Updated by every registration call on [`NetsyncAppExt`](crate::NetsyncAppExt).
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolHash(u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for ProtocolHash {
    fn default() -> Self {
        let mut hash = Self(FNV_OFFSET);
        hash.add("bevy_netsync");
        hash.add(env!("CARGO_PKG_VERSION"));
        hash.add(&crate::shared::wire::WIRE_REVISION.to_string());
        hash
    }
}

impl ProtocolHash {
    /// The fingerprint's value.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Folds one registration into the fingerprint (FNV-1a, with a separator so that
    /// `"ab" + "c"` and `"a" + "bc"` differ).
    pub fn add(&mut self, part: &str) {
        for byte in part.bytes().chain([0xff]) {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_revision_is_part_of_the_fingerprint() {
        let with = |revision: u32| {
            let mut hash = ProtocolHash(FNV_OFFSET);
            hash.add("bevy_netsync");
            hash.add(env!("CARGO_PKG_VERSION"));
            hash.add(&revision.to_string());
            hash
        };
        let revision = crate::shared::wire::WIRE_REVISION;
        assert_eq!(with(revision), ProtocolHash::default());
        assert_ne!(with(revision - 1), ProtocolHash::default());
    }

    #[test]
    fn order_and_boundaries_matter() {
        let mut a = ProtocolHash::default();
        a.add("ab");
        a.add("c");
        let mut b = ProtocolHash::default();
        b.add("a");
        b.add("bc");
        let mut c = ProtocolHash::default();
        c.add("c");
        c.add("ab");
        assert_ne!(a, b);
        assert_ne!(a, c);
        let mut d = ProtocolHash::default();
        d.add("ab");
        d.add("c");
        assert_eq!(a, d);
    }
}
