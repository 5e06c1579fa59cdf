//! Which entities this client predicts: the ones it controls ([`ControlledBy`] names it).

use bevy::prelude::*;

use crate::{
    client::session::ClientSession,
    shared::{
        prediction::{ControlledBy, Predicted, PredictionSettings},
        registry::NoInterpolation,
    },
};

/// Marks an entity [`Predicted`] (and not interpolated) when this client controls it.
pub(crate) fn mark_predicted(
    event: On<Insert, ControlledBy>,
    controlled: Query<&ControlledBy>,
    session: Res<ClientSession>,
    settings: Option<Res<PredictionSettings>>,
    mut commands: Commands,
) {
    let (Some(me), Ok(controller)) = (session.client_id, controlled.get(event.entity)) else {
        return;
    };
    if controller.client_id == me && settings.is_none_or(|settings| settings.enabled) {
        commands
            .entity(event.entity)
            .insert((Predicted, NoInterpolation));
    } else {
        commands.entity(event.entity).remove::<Predicted>();
    }
}
