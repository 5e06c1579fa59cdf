//! Server resources replicate: inserted, changed and removed on every client, late joiners
//! included, each change applied once.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

use crate::common;

#[derive(Resource, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct MatchTimer(u32);

#[derive(Resource, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Scoreboard {
    names: Vec<String>,
    scores: Vec<u32>,
}

fn protocol(app: &mut App) {
    common::protocol(app);
    app.replicate_resource::<MatchTimer>()
        .replicate_resource::<Scoreboard>();
}

fn timer(net: &TestNet, client: usize) -> Option<MatchTimer> {
    net.client(client)
        .world()
        .get_resource::<MatchTimer>()
        .cloned()
}

#[derive(Resource, Default)]
struct Changes(u32);

#[test]
fn resources_reach_every_client_and_follow_the_server() {
    let link = LinkConditioner::new(40, 10, 0.1)
        .with_duplicate(0.05)
        .with_reorder(0.05);
    let mut net = TestNet::new(protocol).with_default_link(link).with_seed(2);
    let early = net.add_client_with(|app| {
        app.init_resource::<Changes>().add_systems(
            Update,
            |timer: Option<Res<MatchTimer>>, mut changes: ResMut<Changes>| {
                if timer.is_some_and(|timer| timer.is_changed()) {
                    changes.0 += 1;
                }
            },
        );
    });
    net.run(20);
    assert_eq!(timer(&net, early), None);

    net.server_mut().insert_resource(MatchTimer(60));
    net.server_mut().insert_resource(Scoreboard {
        names: vec!["Ada".into(), "Grace".into()],
        scores: vec![3, 5],
    });
    net.run(60);
    assert_eq!(timer(&net, early), Some(MatchTimer(60)));

    for left in (50..60).rev() {
        net.server_mut().world_mut().resource_mut::<MatchTimer>().0 = left;
        net.run(30);
    }
    assert_eq!(timer(&net, early), Some(MatchTimer(50)));
    let changes = net.client(early).world().resource::<Changes>().0;
    assert_eq!(
        changes, 11,
        "inserted once, changed ten times, each applied once"
    );

    let late = net.add_client();
    net.run(60);
    assert_eq!(timer(&net, late), Some(MatchTimer(50)));
    assert_eq!(
        net.client(late).world().get_resource::<Scoreboard>(),
        net.server().world().get_resource::<Scoreboard>()
    );

    net.server_mut().world_mut().remove_resource::<MatchTimer>();
    net.run(60);
    assert_eq!(timer(&net, early), None);
    assert_eq!(timer(&net, late), None);
    assert!(
        net.client(late)
            .world()
            .get_resource::<Scoreboard>()
            .is_some()
    );
}

#[test]
fn a_large_resource_arrives_whole() {
    let mut net = TestNet::new(protocol);
    let client = net.add_client();
    let board = Scoreboard {
        names: (0..2_000).map(|i| format!("player-{i}")).collect(),
        scores: (0..2_000).collect(),
    };
    net.server_mut().insert_resource(board.clone());
    net.run(60);
    assert_eq!(
        net.client(client).world().get_resource::<Scoreboard>(),
        Some(&board)
    );
}
