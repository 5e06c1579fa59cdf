//! Values larger than a packet reach every client whole, without being re-sent whole while
//! unacknowledged; a value above the documented limit is refused on the server with an error.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    shared::codec::MAX_VALUE_BYTES,
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

use crate::common::{self, *};

#[derive(Component, Serialize, Deserialize, Clone, PartialEq)]
struct Payload(Vec<u8>);

/// Lengths and a checksum: a failed comparison must not print a megabyte.
impl core::fmt::Debug for Payload {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let sum = self
            .0
            .iter()
            .fold(0u64, |sum, byte| sum.rotate_left(5) ^ u64::from(*byte));
        write!(f, "Payload({} bytes, checksum {sum:x})", self.0.len())
    }
}

fn protocol(app: &mut App) {
    common::protocol(app);
    app.replicate::<Payload>();
}

fn payload(len: usize, seed: u8) -> Payload {
    Payload(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect(),
    )
}

/// The client's payload of the copy of `entity`.
fn client_payload(net: &mut TestNet, client: usize, entity: Entity) -> Option<Payload> {
    let world = net.client_mut(client).world_mut();
    let copy = world.resource::<ServerEntityMap>().to_client(entity)?;
    world.get::<Payload>(copy).cloned()
}

#[test]
fn values_of_4_kb_and_1_mb_reach_every_client_over_a_lossy_link() {
    let link = LinkConditioner::new(20, 5, 0.05).with_reorder(0.05);
    let mut net = TestNet::new(protocol).with_default_link(link).with_seed(7);
    let clients = [net.add_client(), net.add_client()];
    net.run(10);
    let small = payload(4 * 1024, 1);
    let large = payload(1 << 20, 2);
    let a = net.spawn_on_server((Replicated, Health(1), small.clone()));
    let b = net.spawn_on_server((Replicated, Health(2), large.clone()));
    let before: Vec<u64> = clients.iter().map(|&c| net.downstream(c).bytes).collect();
    let arrived = net.run_until(900, |net| {
        clients.iter().all(|&client| {
            client_payload(net, client, a).as_ref() == Some(&small)
                && client_payload(net, client, b).as_ref() == Some(&large)
        })
    });
    assert!(arrived, "the values did not arrive");
    for (position, &client) in clients.iter().enumerate() {
        assert_converged(&mut net, client);
        // Sent once, plus what the losses cost: never again and again while unacknowledged.
        let sent = net.downstream(client).bytes - before[position];
        assert!(
            sent < (1 << 20) * 13 / 10,
            "client {client}: {sent} bytes for 1 MiB of values"
        );
    }

    // A changed large value replaces the old one.
    let changed = payload(1 << 20, 3);
    *net.server_mut().world_mut().get_mut::<Payload>(b).unwrap() = changed.clone();
    let arrived = net.run_until(900, |net| {
        clients
            .iter()
            .all(|&client| client_payload(net, client, b).as_ref() == Some(&changed))
    });
    assert!(arrived, "the changed value did not arrive");
}

#[derive(Resource, Default)]
struct Refused(Vec<ValueRefused>);

#[test]
fn a_value_above_the_limit_is_refused_with_an_error_and_the_rest_replicates() {
    let mut net = TestNet::new(protocol);
    net.server_mut().init_resource::<Refused>().add_observer(
        |event: On<ValueRefused>, mut refused: ResMut<Refused>| {
            refused.0.push(event.event().clone());
        },
    );
    let client = net.add_client();
    let entity = net.spawn_on_server((Replicated, Health(5), payload(MAX_VALUE_BYTES + 1, 4)));
    net.run(10);
    let refused = &net.server().world().resource::<Refused>().0;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].entity, Some(entity));
    assert!(refused[0].type_name.ends_with("Payload"));
    assert!(
        refused[0].error.detail.contains("limit"),
        "{}",
        refused[0].error
    );
    // The client has the entity and its other components, without the refused value.
    let world = net.client_mut(client).world_mut();
    let copy = world
        .resource::<ServerEntityMap>()
        .to_client(entity)
        .expect("the entity replicates");
    assert_eq!(world.get::<Health>(copy), Some(&Health(5)));
    assert!(world.get::<Payload>(copy).is_none());

    // A value within the limit goes through again.
    let fits = payload(10_000, 5);
    *net.server_mut()
        .world_mut()
        .get_mut::<Payload>(entity)
        .unwrap() = fits.clone();
    net.run(20);
    assert_eq!(client_payload(&mut net, client, entity), Some(fits));
}

#[test]
fn a_late_joiner_into_an_old_world_gets_large_values_whose_slices_come_before_any_frame() {
    // 1 s each way and a quarter of the packets lost: a joiner's first state frames are often
    // lost while slices of large values get through, long after tick 600.
    let link = LinkConditioner::new(1_000, 100, 0.25);
    let mut net = TestNet::new(protocol).with_default_link(link).with_seed(11);
    let entities: Vec<Entity> = (0..12)
        .map(|i| {
            net.spawn_on_server((
                Replicated,
                Health(i),
                payload(1_500 + 97 * i as usize, i as u8),
            ))
        })
        .collect();
    net.run(900);
    let client = net.add_client();
    let arrived = net.run_until(3_000, |net| {
        entities
            .iter()
            .all(|entity| client_payload(net, client, *entity).is_some())
    });
    assert!(arrived, "the joiner never got every large value");
    let world = net.server_mut().world_mut();
    let expected: Vec<Payload> = entities
        .iter()
        .map(|entity| world.get::<Payload>(*entity).unwrap().clone())
        .collect();
    for (entity, expected) in entities.iter().zip(expected) {
        assert_eq!(client_payload(&mut net, client, *entity), Some(expected));
    }
}
