use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::prelude::*;

#[test]
fn late_joiner_receives_whole_world() {
    let mut net = net();
    let early = net.add_client();
    net.run(5);
    let mut entities = Vec::new();
    for i in 0..40u32 {
        let world = net.server_mut().world_mut();
        entities.push(
            world
                .spawn((Replicated, Health(i), Position(Vec3::splat(i as f32))))
                .id(),
        );
    }
    net.run(3);
    // History the late joiner never sees happen: mutations, removals, despawns, references.
    for (i, &entity) in entities.iter().enumerate() {
        let world = net.server_mut().world_mut();
        match i % 4 {
            0 => world.get_mut::<Health>(entity).unwrap().0 += 100,
            1 => {
                world.entity_mut(entity).remove::<Position>();
            }
            2 => world.entity_mut(entity).despawn(),
            _ => {
                world.entity_mut(entity).insert(Target(entities[0]));
            }
        }
    }
    net.run(3);
    assert_converged(&mut net, early);

    let late = net.add_client();
    net.run(5);
    assert_eq!(client_state(&net, late), ClientState::Connected);
    assert_converged(&mut net, late);
    assert_eq!(client_snapshot(net.client_mut(late)).len(), 30);

    // And it keeps up afterwards.
    net.server_mut()
        .world_mut()
        .get_mut::<Health>(entities[0])
        .unwrap()
        .0 = 7;
    net.run(2);
    assert_converged(&mut net, late);
    assert_converged(&mut net, early);
}
