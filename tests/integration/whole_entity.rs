//! A client sees each server change once, and whole: an entity spawns with all its replicated
//! components at once, components inserted in one tick arrive together, and a value the server
//! resends (not yet acknowledged) does not write the component again.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};

use crate::common::*;

/// What an `On<Add, Health>` observer (and an `Added<Health>` system) saw on the client.
#[derive(Resource, Default)]
struct Seen {
    observer: Vec<(bool, bool, bool)>,
    system: Vec<(bool, bool)>,
}

fn watch(app: &mut App) {
    app.init_resource::<Seen>()
        .add_observer(
            |event: On<Add, Health>,
             entities: Query<(Has<Position>, Has<Player>, Has<FromServer>)>,
             mut seen: ResMut<Seen>| {
                if let Ok(found) = entities.get(event.entity) {
                    seen.observer.push(found);
                }
            },
        )
        .add_systems(
            Update,
            |added: Query<(Has<Position>, Has<Player>), Added<Health>>, mut seen: ResMut<Seen>| {
                seen.system.extend(added.iter());
            },
        );
}

/// What the observer and the system saw: `(Position, Player, FromServer)` and
/// `(Position, Player)` at the moment `Health` was added.
type Sightings = (Vec<(bool, bool, bool)>, Vec<(bool, bool)>);

fn seen(net: &TestNet, client: usize) -> Sightings {
    let seen = net.client(client).world().resource::<Seen>();
    (seen.observer.clone(), seen.system.clone())
}

#[test]
fn a_spawned_entity_arrives_with_every_component_at_once() {
    let link = LinkConditioner::new(40, 10, 0.1).with_reorder(0.1);
    let mut net = net().with_default_link(link).with_seed(4);
    let client = net.add_client_with(watch);
    for i in 0..30 {
        net.spawn_on_server((
            Replicated,
            Health(i),
            Position(Vec3::splat(i as f32)),
            Player(i as u64),
        ));
    }
    net.run(120);
    assert_converged(&mut net, client);
    let (observer, system) = seen(&net, client);
    assert_eq!(observer.len(), 30);
    assert!(
        observer.iter().all(|seen| *seen == (true, true, true)),
        "an observer of Health saw a partial entity: {observer:?}"
    );
    assert_eq!(system.len(), 30);
    assert!(
        system.iter().all(|seen| *seen == (true, true)),
        "{system:?}"
    );
}

#[test]
fn components_inserted_in_one_tick_arrive_together() {
    let mut net = net().with_default_link(LinkConditioner::new(30, 5, 0.0));
    let client = net.add_client_with(watch);
    let entities: Vec<Entity> = (0..10)
        .map(|i| net.spawn_on_server((Replicated, Player(i))))
        .collect();
    net.run(30);
    for (i, entity) in entities.iter().enumerate() {
        net.server_mut()
            .world_mut()
            .entity_mut(*entity)
            .insert((Health(i as u32), Position(Vec3::X)));
    }
    net.run(30);
    assert_converged(&mut net, client);
    let (observer, _) = seen(&net, client);
    assert_eq!(observer.len(), 10);
    assert!(
        observer.iter().all(|seen| *seen == (true, true, true)),
        "{observer:?}"
    );
}

/// Counts frames in which a client's `Health` reads as changed.
#[derive(Resource, Default)]
struct Changes(u32);

fn count_changes(app: &mut App) {
    app.init_resource::<Changes>().add_systems(
        Update,
        |changed: Query<(), Changed<Health>>, mut changes: ResMut<Changes>| {
            changes.0 += changed.iter().count() as u32;
        },
    );
}

#[test]
fn a_server_change_is_applied_once_however_often_it_is_resent() {
    // 100 ms round trip: an unacknowledged change goes out about six times.
    let link = LinkConditioner::new(50, 0, 0.0).with_duplicate(0.2);
    let mut net = net().with_default_link(link).with_seed(6);
    let client = net.add_client_with(count_changes);
    let entity = net.spawn_on_server((Replicated, Health(0)));
    net.run(60);
    let before = net.client(client).world().resource::<Changes>().0;
    assert_eq!(before, 1, "the spawn counts once");
    for value in 1..=4 {
        net.server_mut()
            .world_mut()
            .get_mut::<Health>(entity)
            .unwrap()
            .0 = value;
        net.run(40);
        assert_converged(&mut net, client);
    }
    let after = net.client(client).world().resource::<Changes>().0;
    assert_eq!(after - before, 4, "four server changes");
}
