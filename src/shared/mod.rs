//! What both sides share: ticks, the wire format, codecs, registries, channels, the entity map,
//! the protocol hash, the link simulation ([`link`]) and captures ([`capture`]).

pub mod authority;
pub mod capture;
pub mod channels;
pub mod client_ids;
pub mod codec;
pub mod disconnect;
pub mod entity_map;
pub(crate) mod erased;
pub mod error;
pub(crate) mod history;
pub mod input;
pub mod interpolate;
pub mod link;
pub mod messages;
pub mod prediction;
pub mod protocol;
pub mod registry;
pub mod replicated;
pub(crate) mod scoped;
mod serde_wire;
pub(crate) mod sides;
pub mod tick;
pub(crate) mod tick_buffer;
pub mod transform_codec;
pub(crate) mod value_coder;
pub mod wire;

/// [`SplitMix64`](crate::shared::link::SplitMix64), the link simulation's seeded random
/// generator, also reachable here.
pub mod rng {
    pub use super::link::SplitMix64;
}

use core::time::Duration;

use bevy::prelude::*;

/// Registers what both sides need: the registries, the protocol hash, the tick rate, and the
/// upkeep of a [`NetCapture`](capture::NetCapture) when one runs.
///
/// Part of [`NetsyncPlugins`](crate::NetsyncPlugins).
pub struct SharedPlugin {
    /// Server simulation rate: `FixedUpdate` runs this many times per second.
    pub tick_rate_hz: f64,
}

impl Default for SharedPlugin {
    fn default() -> Self {
        Self { tick_rate_hz: 60.0 }
    }
}

impl Plugin for SharedPlugin {
    fn build(&self, app: &mut App) {
        // Every registration notes itself in the protocol hash: one that ran before this
        // plugin left it behind.
        let registered_early = app.world().contains_resource::<protocol::ProtocolHash>();
        app.world_mut()
            .get_resource_or_init::<sides::Sides>()
            .registered_early = registered_early;
        app.init_resource::<registry::ReplicationRegistry>()
            .init_resource::<authority::AuthorityRegistry>()
            .init_resource::<registry::ResourceRegistry>()
            .init_resource::<messages::MessageRegistry>()
            .init_resource::<protocol::ProtocolHash>()
            .insert_resource(Time::<Fixed>::from_duration(Duration::from_secs_f64(
                1.0 / self.tick_rate_hz,
            )))
            .add_systems(
                First,
                capture::load_capture_names.run_if(resource_exists::<capture::NetCapture>),
            )
            .add_systems(
                Last,
                capture::flush_capture.run_if(resource_exists::<capture::NetCapture>),
            );
    }

    fn finish(&self, app: &mut App) {
        let sides = app.world().resource::<sides::Sides>();
        if let Some(plugin) = sides::missing_side(sides) {
            panic!(
                "bevy_netsync: the protocol was registered before NetsyncPlugins in an App \
                 without {plugin}, so it added parts of that side, which cannot run here. \
                 Register the protocol after adding the plugins."
            );
        }
    }
}
