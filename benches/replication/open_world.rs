//! The open-world scenario: 10,000 entities spread over a 1 km square, 2,000 of them moving,
//! each client following its player with a view point; and the check that each client holds
//! exactly what is near its player.

use super::*;

/// Spreads `count` entities over the open world's map (a fixed pseudo-random layout), the first
/// ones moving, the first of those being players that connecting clients follow.
pub(crate) fn spread_open_world(net: &mut TestNet, count: usize) {
    let mut rng = bevy_netsync::testing::SplitMix64::new(99);
    let world = net.server_mut().world_mut();
    let mut players = Vec::new();
    for i in 0..count {
        let mut coordinate = || rng.next_f64() as f32 * OPEN_WORLD_SIDE;
        let center = Vec3::new(coordinate(), 0.0, coordinate());
        let mut entity = world.spawn((Replicated, Transform::from_translation(center)));
        if i < OPEN_WORLD_MOVING {
            entity.insert(Orbit {
                center,
                phase: i as f32,
            });
            players.push(entity.id());
        }
    }
    players.truncate(200);
    net.server_mut()
        .insert_resource(Players { players, next: 0 })
        .add_observer(
            |event: On<Add, ConnectedClient>,
             mut players: ResMut<Players>,
             mut commands: Commands| {
                let player = players.players[players.next % players.players.len()];
                players.next += 1;
                commands
                    .entity(event.entity)
                    .insert(ViewPoint::following(player, OPEN_WORLD_RADIUS));
            },
        );
}

/// Each client holds exact values of what it holds, everything well inside its view, and
/// nothing well outside it (near the edge either is right, depending on the past).
pub(crate) fn check_open_world(net: &mut TestNet, scenario: &Scenario) -> Result<(), String> {
    let world = net.server_mut().world_mut();
    let server: Vec<(Entity, Transform)> = world
        .query_filtered::<(Entity, &Transform), With<Replicated>>()
        .iter(world)
        .map(|(entity, transform)| (entity, *transform))
        .collect();
    let followed: Vec<(u64, Entity)> = world
        .query::<(&ConnectedClient, &ViewPoint)>()
        .iter(world)
        .filter_map(|(connected, view)| match view.origin {
            ViewOrigin::Entity(entity) => Some((connected.id(), entity)),
            ViewOrigin::Position(_) => None,
        })
        .collect();
    for client in 0..scenario.clients {
        let id = net.client_id(client);
        let player = followed
            .iter()
            .find(|(followed_by, _)| *followed_by == id)
            .map(|(_, player)| *player)
            .ok_or("a client has no view point")?;
        let center = server
            .iter()
            .find(|(entity, _)| *entity == player)
            .map(|(_, transform)| transform.translation)
            .ok_or("a player is gone")?;
        let world = net.client_mut(client).world_mut();
        let map = world.resource::<ServerEntityMap>();
        for (entity, transform) in &server {
            let distance = transform.translation.distance(center);
            let held = map
                .to_client(*entity)
                .and_then(|e| world.get::<Transform>(e))
                .copied();
            match held {
                Some(held) if held != scenario.codec.expected(transform) => {
                    return Err(format!(
                        "client {client}: {entity} is {held:?}, expected {:?}",
                        scenario.codec.expected(transform)
                    ));
                }
                None if distance < OPEN_WORLD_RADIUS * 0.95 => {
                    return Err(format!("client {client} lacks {entity} at {distance:.1} m"));
                }
                Some(_) if distance > OPEN_WORLD_RADIUS * 1.15 => {
                    return Err(format!("client {client} holds {entity} at {distance:.1} m"));
                }
                _ => {}
            }
        }
    }
    Ok(())
}
