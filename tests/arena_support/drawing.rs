//! What each bot drew of the other players, and from which snapshots: compared with where the
//! server had them at exactly those ticks, so the check does not depend on when a datagram
//! happened to arrive (a bot past its newest snapshot extrapolates or holds, and those samples
//! are counted, not measured).

use std::collections::BTreeMap;

use bevy::prelude::*;
use bevy_netsync::prelude::*;

use super::protocol::Player;

/// One other player as a bot drew it.
pub struct DrawnSample {
    pub id: String,
    pub tick: f64,
    pub drawn: Vec3,
    /// The snapshots blended, or `None` when the bot was past its newest one.
    pub bracket: Option<(NetTick, NetTick)>,
}

/// Everything a bot drew since the last clear.
#[derive(Resource, Default)]
pub struct Drawn(pub Vec<DrawnSample>);

/// Records what the bot just drew (after its interpolation step).
pub fn record_drawn(
    timeline: Res<ClientTimeline>,
    players: Query<(&Player, &Transform, &SnapshotBuffer<Transform>), Without<Predicted>>,
    mut drawn: ResMut<Drawn>,
) {
    let tick = timeline.interpolation_tick();
    for (player, transform, buffer) in &players {
        drawn.0.push(DrawnSample {
            id: player.name.clone(),
            tick,
            drawn: transform.translation,
            bracket: buffer.bracket(tick),
        });
    }
}

/// For every interpolated sample, how far what the bot drew is from the server's positions at
/// the snapshots it blended, blended the same way (a jump beyond `snap_distance`, a respawn,
/// shows the older snapshot); and how many samples were not interpolated.
pub fn drawing_errors(
    drawn: &[DrawnSample],
    history: &BTreeMap<u32, BTreeMap<String, Vec3>>,
    snap_distance: f32,
) -> (Vec<f32>, usize) {
    let mut errors = Vec::new();
    let mut not_interpolated = 0;
    for sample in drawn {
        let Some((a, b)) = sample.bracket else {
            not_interpolated += 1;
            continue;
        };
        let at = |tick: NetTick| {
            history
                .get(&tick.0)
                .and_then(|players| players.get(&sample.id))
        };
        let (Some(&pa), Some(&pb)) = (at(a), at(b)) else {
            continue;
        };
        let truth = if a == b || pa.distance(pb) > snap_distance {
            pa
        } else {
            let (from, to) = (a.unwrap_near(sample.tick), b.unwrap_near(sample.tick));
            pa.lerp(pb, ((sample.tick - from) / (to - from)) as f32)
        };
        errors.push(sample.drawn.distance(truth));
    }
    (errors, not_interpolated)
}
