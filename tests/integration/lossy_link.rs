//! Replication under a bad link: 100 ms ± 20 ms one way, 20 % loss, 5 % duplication and
//! reordering. Everything must still converge exactly.

use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::LinkConditioner};

fn bad_link() -> LinkConditioner {
    LinkConditioner::new(100, 20, 0.2)
        .with_duplicate(0.05)
        .with_reorder(0.05)
}

/// A deterministic script of spawns, mutations, inserts, removals, references and despawns.
fn churn(net: &mut bevy_netsync::testing::TestNet, entities: &mut Vec<Entity>, step: u32) {
    let world = net.server_mut().world_mut();
    if step.is_multiple_of(7) {
        let target = entities.last().copied();
        let mut spawned =
            world.spawn((Replicated, Health(step), Position(Vec3::splat(step as f32))));
        if let Some(target) = target {
            spawned.insert(Target(target));
        }
        entities.push(spawned.id());
    }
    for (i, &entity) in entities.iter().enumerate() {
        let Ok(mut entity) = world.get_entity_mut(entity) else {
            continue;
        };
        if let Some(mut position) = entity.get_mut::<Position>() {
            position.0.x += 0.25 * i as f32;
        }
        match (step + i as u32) % 23 {
            3 => {
                entity.remove::<Health>();
            }
            9 => {
                entity.insert(Health(step * 2));
            }
            15 => {
                entity.remove::<Position>();
            }
            19 => {
                entity.insert(Position(Vec3::new(step as f32, 1.0, 0.0)));
            }
            _ => {}
        }
    }
    if step.is_multiple_of(17) && entities.len() > 3 {
        let victim = entities.remove(1);
        world.entity_mut(victim).despawn();
    }
}

#[test]
fn replication_converges_exactly_over_a_bad_link() {
    let mut net = net().with_seed(42).with_default_link(bad_link());
    let a = net.add_client();
    let b = net.add_client();
    let mut entities = Vec::new();
    for step in 0..240 {
        churn(&mut net, &mut entities, step);
        net.step();
    }
    // A client that joins in the middle of it all.
    let late = net.add_client();
    for step in 240..360 {
        churn(&mut net, &mut entities, step);
        net.step();
    }
    // Quiet: let resends catch up (a few seconds of simulated time).
    net.run(240);
    assert!(server_snapshot(net.server_mut()).len() > 10);
    for client in [a, b, late] {
        assert_eq!(client_state(&net, client), ClientState::Connected);
        assert_converged(&mut net, client);
    }
    assert!(net.downstream(a).dropped > 0, "the link did drop packets");
}

#[test]
fn a_busy_world_packed_on_several_threads_converges_exactly() {
    let mut net = net().with_seed(7).with_default_link(bad_link());
    // Enough clients and changing entities that the server chooses, builds and packs on the
    // compute pool's threads (and the calling one), not in order on one.
    assert!(
        bevy::tasks::ComputeTaskPool::get().thread_num() >= 1,
        "the test App has a compute pool"
    );
    let clients: Vec<usize> = (0..8).map(|_| net.add_client()).collect();
    let mut entities: Vec<Entity> = (0..300)
        .map(|i| {
            net.server_mut()
                .world_mut()
                .spawn((Replicated, Health(i), Position(Vec3::splat(i as f32))))
                .id()
        })
        .collect();
    for step in 0..120 {
        churn(&mut net, &mut entities, step);
        net.step();
    }
    net.run(180);
    for client in clients {
        assert_eq!(client_state(&net, client), ClientState::Connected);
        assert_converged(&mut net, client);
    }
}
