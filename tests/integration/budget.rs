//! The send pipeline under a byte budget: never exceeded, nothing starves, priority decides the
//! order; and deltas stay exact whatever happens to acknowledgements.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};

use crate::common::{self, orbit::*, transforms::*};

fn protocol(app: &mut App) {
    common::protocol(app);
    app.replicate_with::<Transform>(TransformCodec::default());
}

/// A server under a budget with `count` entities on circles 25 m apart (an `Orbit` moves
/// them; the still ones have none yet), without clients.
fn circles(count: usize, bytes_per_second: usize, moving: bool) -> (TestNet, Vec<(Entity, Orbit)>) {
    let mut net = TestNet::new(protocol);
    net.server_mut()
        .insert_resource(ServerConfig {
            bytes_per_second,
            ..default()
        })
        .add_systems(FixedUpdate, move_on_orbit);
    let entities = (0..count)
        .map(|i| {
            let center = Vec3::new(i as f32 * 25.0, 0.0, 0.0);
            let orbit = Orbit {
                center,
                phase: i as f32,
            };
            let entity = net.spawn_on_server((Replicated, Transform::from_translation(center)));
            if moving {
                net.server_mut()
                    .world_mut()
                    .entity_mut(entity)
                    .insert(orbit);
            }
            (entity, orbit)
        })
        .collect();
    (net, entities)
}

/// A server with `count` entities on circles, and one client with a budget.
fn moving_world(count: usize, bytes_per_second: usize) -> (TestNet, Vec<Entity>) {
    let (mut net, entities) = circles(count, bytes_per_second, true);
    net.add_client();
    (
        net,
        entities.into_iter().map(|(entity, _)| entity).collect(),
    )
}

#[test]
fn the_budget_holds_over_every_second() {
    const BUDGET: usize = 16_000;
    let (mut net, _) = moving_world(500, BUDGET);
    net.run(60);
    for second in 0..10 {
        let before = net.downstream(0).bytes;
        net.run(60);
        let sent = net.downstream(0).bytes - before;
        assert!(
            sent <= BUDGET as u64,
            "second {second}: {sent} bytes for a budget of {BUDGET}"
        );
        assert!(
            sent > BUDGET as u64 * 8 / 10,
            "second {second}: only {sent} bytes used"
        );
    }
}

/// Ticks since each entity's shown position was true on the server (its angle tells).
fn staleness(net: &mut TestNet, entities: &[Entity]) -> Vec<f64> {
    let now = f64::from(net.server().world().resource::<ServerTick>().0.0);
    let angular = f64::from(SPEED / RADIUS) * TICK_SECONDS;
    let orbits: Vec<Orbit> = entities
        .iter()
        .map(|entity| *net.server().world().get::<Orbit>(*entity).unwrap())
        .collect();
    let world = net.client_mut(0).world_mut();
    let map = world.resource::<ServerEntityMap>();
    entities
        .iter()
        .zip(orbits)
        .map(|(entity, orbit)| {
            let Some(shown) = map
                .to_client(*entity)
                .and_then(|e| world.get::<Transform>(e))
            else {
                return f64::INFINITY;
            };
            let offset = shown.translation - orbit.center;
            // In (-π, π]: a hair ahead (quantization) is not a whole turn behind.
            let behind = (orbit.angle(now) - f64::from(offset.z.atan2(offset.x))
                + std::f64::consts::PI)
                .rem_euclid(std::f64::consts::TAU)
                - std::f64::consts::PI;
            behind.max(0.0) / angular
        })
        .collect()
}

#[test]
fn nothing_starves_under_a_tenth_of_the_needed_budget() {
    // 300 moving entities need about 300 × 3 bytes × 60 per second.
    let (mut net, entities) = moving_world(300, 6_000);
    net.run(300);
    let mut worst: f64 = 0.0;
    for _ in 0..20 {
        net.run(30);
        worst = staleness(&mut net, &entities)
            .into_iter()
            .fold(worst, f64::max);
    }
    // Every entity comes round about every ten ticks or so; none waits for seconds.
    assert!(worst < 60.0, "an entity was {worst:.0} ticks stale");
}

#[test]
fn higher_priority_entities_are_fresher() {
    let (mut net, entities) = moving_world(200, 4_000);
    for entity in &entities[..20] {
        net.server_mut()
            .world_mut()
            .entity_mut(*entity)
            .insert(ReplicationPriority(10.0));
    }
    net.run(300);
    let (mut important, mut others) = (0.0, 0.0);
    for _ in 0..20 {
        net.run(15);
        let ages = staleness(&mut net, &entities);
        important += ages[..20].iter().sum::<f64>() / 20.0;
        others += ages[20..].iter().sum::<f64>() / 180.0;
    }
    assert!(
        important * 3.0 < others,
        "important entities {important:.1}, others {others:.1} (sums of mean staleness)"
    );
}

#[test]
fn deltas_stay_exact_when_acknowledgements_are_lost_late_reordered_or_stop() {
    let codec = TransformCodec::default();
    let mut net = TestNet::new(protocol).with_seed(5);
    net.server_mut().add_systems(FixedUpdate, move_on_orbit);
    let down = LinkConditioner::new(40, 10, 0.1).with_reorder(0.1);
    let up = LinkConditioner::new(60, 40, 0.3)
        .with_duplicate(0.1)
        .with_reorder(0.3);
    let client = net.add_client();
    net.set_links(client, down, up);
    let mut entities = Vec::new();
    for i in 0..40 {
        let center = Vec3::new(i as f32 * 25.0, 0.0, 0.0);
        entities.push(net.spawn_on_server((
            Replicated,
            Transform::from_translation(center),
            Orbit {
                center,
                phase: i as f32,
            },
        )));
    }
    net.run(300);
    // Acknowledgements stop for three seconds, then come back.
    net.set_links(client, down, LinkConditioner::new(60, 0, 1.0));
    net.run(180);
    net.set_links(client, down, up);
    // Structure changes while deltas flow: transforms removed and put back, a late joiner.
    for entity in &entities[..5] {
        net.server_mut()
            .world_mut()
            .entity_mut(*entity)
            .remove::<Transform>();
    }
    net.run(30);
    for entity in &entities[..5] {
        net.server_mut()
            .world_mut()
            .entity_mut(*entity)
            .insert(Transform::from_xyz(1.0, 2.0, 3.0));
    }
    let late = net.add_client();
    net.set_links(late, down, up);
    net.run(240);
    // Stop moving and let the last values land: clients hold exactly what the codec gives.
    for entity in &entities {
        net.server_mut()
            .world_mut()
            .entity_mut(*entity)
            .remove::<Orbit>();
    }
    net.run(120);
    for client in [client, late] {
        compare_transforms(&mut net, client, |value| round_trip(&codec, value)).unwrap();
    }
}

/// Through a lull and a burst, at small budgets too: no one-second window, however placed,
/// carries more than the budget (a bucket alone lets the first second of a burst carry what
/// the lull saved on top of a second's worth).
#[test]
fn the_budget_holds_over_every_window_through_a_lull_and_a_burst() {
    for budget in [6_000usize, 24_000] {
        let (mut net, entities) = circles(300, budget, false);
        net.add_client();
        let mut bytes = Vec::new();
        let mut record = |net: &mut TestNet, steps: usize| {
            for _ in 0..steps {
                let before = net.downstream(0).bytes;
                net.step();
                bytes.push(net.downstream(0).bytes - before);
            }
        };
        // The still entities arrive, then a lull.
        record(&mut net, 600);
        for (entity, orbit) in &entities {
            net.server_mut()
                .world_mut()
                .entity_mut(*entity)
                .insert(*orbit);
        }
        // Everything moves at once.
        record(&mut net, 300);
        let worst = bytes.windows(60).map(|w| w.iter().sum::<u64>()).max();
        assert!(
            worst.unwrap() <= budget as u64,
            "{worst:?} B in one second for {budget} B/s"
        );
        let last: u64 = bytes[bytes.len() - 60..].iter().sum();
        assert!(
            last > budget as u64 * 8 / 10,
            "only {last} B of {budget} used"
        );
    }
}

/// A message larger than what replication leaves of a small budget still goes (replication
/// makes room for it), and within the budget.
#[test]
fn a_large_message_gets_through_a_budget_replication_fills() {
    const BUDGET: usize = 6_000;
    let (mut net, _) = circles(300, BUDGET, true);
    let client = net.add_client_with(common::collect::<common::ChatLine>);
    net.run(120);
    let long = common::ChatLine("x".repeat(3_000));
    net.server_mut().world_mut().write_message(ToClients {
        mode: SendMode::Broadcast,
        message: long.clone(),
    });
    let mut bytes = Vec::new();
    let mut arrived = false;
    for _ in 0..300 {
        let before = net.downstream(client).bytes;
        net.step();
        bytes.push(net.downstream(client).bytes - before);
        if common::collected::<common::ChatLine>(net.client(client)).contains(&long) {
            arrived = true;
            break;
        }
    }
    assert!(
        arrived,
        "a 3 KB message under a 6,000 B/s budget never arrived"
    );
    let worst = bytes.windows(60).map(|w| w.iter().sum::<u64>()).max();
    assert!(
        worst.is_none_or(|worst| worst <= BUDGET as u64),
        "{worst:?} B in one second"
    );
}
