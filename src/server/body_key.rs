//! [`BodyKey`]: which body an entity's entry needs for one client (a spawn, or an update
//! against the ticks it acknowledged, and how it stands to the entity's client authority).
//!
//! Keys are compared far more often than they are read: every client's chosen list is compared
//! with the one before it, entry by entry, to share bodies and packed entries. So a key is kept
//! packed in two ticks and a tag, compared as plain integers, and read through [`KeyView`].

use crate::shared::tick::NetTick;

/// Which entry body: a spawn (every component, whole) or an update against the client's
/// acknowledged ticks. Read it with [`view`](Self::view).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyKey {
    /// The baseline of an update (zero for a spawn).
    base: NetTick,
    /// The earlier baseline of an update, when `tag` has [`HAS_PREVIOUS`] (zero otherwise).
    previous: NetTick,
    /// Zero for a spawn; for an update [`UPDATE`], [`HAS_PREVIOUS`] and the holder view shifted
    /// by [`HOLDER_SHIFT`].
    tag: u8,
}

const UPDATE: u8 = 1;
const HAS_PREVIOUS: u8 = 2;
const HOLDER_SHIFT: u8 = 2;

/// A [`BodyKey`] to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyView {
    Spawn,
    Update {
        base: NetTick,
        previous: Option<NetTick>,
        /// Whether the client holds the entity or held it since its baseline (client
        /// authority).
        holder: HolderView,
    },
}

/// How a client stands to an entity's client authority, for the body of its entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum HolderView {
    /// Never held it since its baseline: the body everyone gets.
    #[default]
    None,
    /// Held it until after its baseline: client-authoritative values go whole (its history
    /// lacks the values it sent, which the server's baselines hold).
    Former,
    /// Holds it: as `Former`, and the values it sent itself, accepted unchanged, are left out.
    Holds,
}

impl BodyKey {
    /// The key of a spawn.
    pub(crate) const SPAWN: Self = Self {
        base: NetTick(0),
        previous: NetTick(0),
        tag: 0,
    };

    /// The key of an update against `base` (and `previous`, the baseline before it).
    pub(crate) fn update(base: NetTick, previous: Option<NetTick>, holder: HolderView) -> Self {
        Self {
            base,
            previous: previous.unwrap_or_default(),
            tag: UPDATE
                | if previous.is_some() { HAS_PREVIOUS } else { 0 }
                | (holder as u8) << HOLDER_SHIFT,
        }
    }

    /// Whether this is the key of a spawn.
    pub(crate) fn is_spawn(self) -> bool {
        self.tag == 0
    }

    /// The key to match on.
    #[inline]
    pub(crate) fn view(self) -> KeyView {
        if self.is_spawn() {
            return KeyView::Spawn;
        }
        KeyView::Update {
            base: self.base,
            previous: (self.tag & HAS_PREVIOUS != 0).then_some(self.previous),
            holder: match self.tag >> HOLDER_SHIFT {
                0 => HolderView::None,
                1 => HolderView::Former,
                _ => HolderView::Holds,
            },
        }
    }

    /// The same update seen by a client standing as `holder` (a spawn stays a spawn).
    pub(crate) fn with_holder(self, holder: HolderView) -> Self {
        match self.view() {
            KeyView::Spawn => self,
            KeyView::Update { base, previous, .. } => Self::update(base, previous, holder),
        }
    }

    /// The key as one number (72 bits), equal for equal keys only: also the order keys are
    /// sorted and deduplicated in.
    #[inline]
    pub(crate) fn bits(self) -> u128 {
        u128::from(self.base.0) | u128::from(self.previous.0) << 32 | u128::from(self.tag) << 64
    }

    /// The key [`bits`](Self::bits) made `bits` of.
    #[inline]
    pub(crate) fn from_bits(bits: u128) -> Self {
        Self {
            base: NetTick(bits as u32),
            previous: NetTick((bits >> 32) as u32),
            tag: (bits >> 64) as u8,
        }
    }
}

impl core::fmt::Debug for BodyKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.view().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_what_it_was_made_of_and_equals_only_its_like() {
        let ticks = [NetTick(0), NetTick(1), NetTick(u32::MAX)];
        let holders = [HolderView::None, HolderView::Former, HolderView::Holds];
        let mut keys = vec![(BodyKey::SPAWN, KeyView::Spawn)];
        for base in ticks {
            for previous in [None, Some(NetTick(0)), Some(NetTick(7))] {
                for holder in holders {
                    let key = BodyKey::update(base, previous, holder);
                    let view = KeyView::Update {
                        base,
                        previous,
                        holder,
                    };
                    assert_eq!(key.view(), view);
                    assert!(!key.is_spawn());
                    keys.push((key, view));
                }
            }
        }
        assert!(BodyKey::SPAWN.is_spawn());
        assert_eq!(
            BodyKey::SPAWN.with_holder(HolderView::Holds),
            BodyKey::SPAWN
        );
        for &(a, view_a) in &keys {
            for &(b, view_b) in &keys {
                assert_eq!(a == b, view_a == view_b, "{view_a:?} against {view_b:?}");
                assert_eq!(a.bits() == b.bits(), a == b);
                assert_eq!(BodyKey::from_bits(a.bits()), a);
            }
        }
        let former = BodyKey::update(NetTick(5), Some(NetTick(3)), HolderView::None)
            .with_holder(HolderView::Former);
        assert_eq!(
            former,
            BodyKey::update(NetTick(5), Some(NetTick(3)), HolderView::Former)
        );
    }
}
