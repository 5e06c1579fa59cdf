//! [`BodyKey`]: which body an entity's entry needs for one client (a spawn, or an update
//! against the ticks it acknowledged, and how it stands to the entity's client authority).

use crate::shared::tick::NetTick;

/// Which entry body: a spawn (every component, whole) or an update against the client's
/// acknowledged ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKey {
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
    /// A total order, to sort and deduplicate keys.
    pub(super) fn order(self) -> (u8, u32, u32, u32) {
        match self {
            Self::Spawn => (0, 0, 0, 0),
            Self::Update {
                base,
                previous,
                holder,
            } => (
                1 + holder as u8,
                base.0,
                u32::from(previous.is_some()),
                previous.map_or(0, |previous| previous.0),
            ),
        }
    }
}
