//! Client prediction: the entities this client controls follow its own inputs at once, and are
//! corrected (rolled back and re-simulated, the correction faded out on screen) when the server
//! disagrees. See [`NetsyncAppExt::predict`](crate::NetsyncAppExt::predict).

mod correction;
mod input;
mod mark;
mod registry;
mod rollback;
mod spawns;
mod tick;

use bevy::{prelude::*, transform::TransformSystems};

pub use rollback::PredictionStats;
pub use tick::PredictedTick;

pub(crate) use input::{apply_tick_input, record_input};
pub(crate) use registry::{MatchFn, PredictionRegistry, TypedPrediction};
pub(crate) use spawns::PredictedSpawns;

use super::ClientSet;
use crate::shared::prediction::{PredictionSettings, Resimulating};

/// Adds prediction's resources and systems to the client.
pub(crate) fn plugin(app: &mut App) {
    app.init_resource::<PredictedTick>()
        .init_resource::<PredictionStats>()
        .init_resource::<PredictionSettings>()
        .init_resource::<Resimulating>()
        .init_resource::<PredictionRegistry>()
        .init_resource::<PredictedSpawns>()
        .add_observer(mark::mark_predicted)
        .add_observer(spawns::track_predicted_spawn)
        .add_systems(FixedFirst, tick::advance_predicted_tick)
        .add_systems(
            PreUpdate,
            correction::restore_simulated
                .in_set(ClientSet::Receive)
                .before(super::connection::update_connection),
        )
        .add_systems(
            PreUpdate,
            (
                rollback::reconcile,
                tick::steer_clock,
                spawns::expire_predicted_spawns,
            )
                .chain()
                .in_set(ClientSet::Predict),
        )
        .add_systems(
            PostUpdate,
            correction::show_corrections.before(TransformSystems::Propagate),
        );
}
