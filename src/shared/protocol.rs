//! [`ProtocolHash`]: a fingerprint of everything both sides must agree on.

use bevy::prelude::*;

/// A 64-bit fingerprint of the protocol: the crate version and every registration
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
