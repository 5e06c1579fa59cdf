//! Clients' transforms against the server's, for tests and benchmarks.

use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::TestNet};

/// `value` through `codec` and back: what a client should hold when the server has `value`.
pub fn round_trip(codec: &TransformCodec, value: &Transform) -> Transform {
    let mut bytes = Vec::new();
    codec
        .encode(value, None, &mut bytes)
        .expect("the server's transforms are encodable");
    codec
        .decode(&bytes, None)
        .expect("what the codec wrote decodes")
}

/// Checks that `client` holds every replicated server entity, each with the transform
/// `expected` gives for the server's own; the error names the first difference.
pub fn compare_transforms(
    net: &mut TestNet,
    client: usize,
    expected: impl Fn(&Transform) -> Transform,
) -> Result<(), String> {
    let world = net.server_mut().world_mut();
    let server: Vec<(Entity, Transform)> = world
        .query_filtered::<(Entity, &Transform), With<Replicated>>()
        .iter(world)
        .map(|(entity, transform)| (entity, *transform))
        .collect();
    let world = net.client_mut(client).world_mut();
    let map = world.resource::<ServerEntityMap>();
    if map.len() != server.len() {
        return Err(format!(
            "client {client} has {} of {} entities",
            map.len(),
            server.len()
        ));
    }
    for (server_entity, transform) in &server {
        let mirrored = map
            .to_client(*server_entity)
            .and_then(|entity| world.get::<Transform>(entity))
            .copied();
        let expected = expected(transform);
        if mirrored != Some(expected) {
            return Err(format!(
                "client {client}: {server_entity} is {mirrored:?}, expected {expected:?}"
            ));
        }
    }
    Ok(())
}
