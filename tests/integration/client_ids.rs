//! Client ids reach only the client they belong to: others see a stable alias in every value
//! that names a client (`ControlledBy`, `SpawnedBy`, a game's own types), so nobody learns an id
//! it could connect with.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

/// A game's own value naming two clients.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
struct Pair {
    owner: u64,
    rival: u64,
    seat: u32,
}

impl NamesClients for Pair {
    fn map_client_ids(&mut self, map: &mut dyn FnMut(u64) -> u64) {
        self.owner = map(self.owner);
        self.rival = map(self.rival);
    }
}

fn protocol(app: &mut App) {
    app.replicate::<Transform>()
        .predict::<Transform>()
        .replicate_aliased::<Pair>();
}

/// What one client shows for the player of `seat`: its controller, its pair, whether predicted.
fn shown(net: &mut TestNet, client: usize, seat: u32) -> (ControlledBy, Pair, bool) {
    let world = net.client_mut(client).world_mut();
    let mut players = world.query::<(&ControlledBy, &Pair, Has<Predicted>)>();
    players
        .iter(world)
        .find(|(_, pair, _)| pair.seat == seat)
        .map(|(controller, pair, predicted)| (*controller, *pair, predicted))
        .expect("the player arrived")
}

#[test]
fn each_client_sees_its_own_id_and_only_aliases_of_the_others() {
    let mut net = TestNet::new(protocol);
    let first = net.add_client();
    let second = net.add_client();
    let watcher = net.add_client();
    net.run(5);
    let ids = [net.client_id(first), net.client_id(second)];
    for (seat, (owner, rival)) in [(ids[0], ids[1]), (ids[1], ids[0])].into_iter().enumerate() {
        net.spawn_on_server((
            Replicated,
            Transform::default(),
            ControlledBy { client_id: owner },
            Pair {
                owner,
                rival,
                seat: seat as u32,
            },
        ));
    }
    net.run(20);

    for (me, other) in [(first, second), (second, first)] {
        let (my_id, their_id) = (ids[me], ids[other]);
        let (controller, pair, predicted) = shown(&mut net, me, me as u32);
        assert_eq!(controller.client_id, my_id, "my own player names me");
        assert_eq!((pair.owner, pair.seat), (my_id, me as u32));
        assert!(predicted, "the player I control is predicted");
        let alias = pair.rival;
        assert_ne!(alias, their_id, "another client's id never reaches me");

        let (controller, pair, predicted) = shown(&mut net, me, other as u32);
        assert!(!predicted);
        assert_eq!(
            controller.client_id, alias,
            "one alias per client, in every value"
        );
        assert_eq!(pair.owner, alias);
        assert_eq!(pair.rival, my_id, "a value naming me shows my id");
    }
    // A third client sees the same aliases, and no id.
    let aliases = [shown(&mut net, second, 0).0, shown(&mut net, first, 1).0];
    for seat in 0..2 {
        let (controller, pair, predicted) = shown(&mut net, watcher, seat);
        assert_eq!(controller, aliases[seat as usize]);
        assert!(!predicted);
        assert_eq!(pair.rival, aliases[1 - seat as usize].client_id);
        assert!(!ids.contains(&controller.client_id) && !ids.contains(&pair.rival));
    }
}

#[test]
fn a_state_frame_that_overtakes_the_welcome_still_shows_the_client_its_own_id() {
    // Reordered and lossy: the first state frames often arrive before the welcome.
    for seed in 0..12 {
        let mut net = TestNet::new(protocol)
            .with_seed(seed)
            .with_default_link(LinkConditioner::new(30, 20, 0.2).with_reorder(0.5));
        net.server_mut().add_observer(
            |event: On<Add, ConnectedClient>,
             clients: Query<&ConnectedClient>,
             mut commands: Commands| {
                let client_id = clients.get(event.entity).unwrap().id();
                commands.spawn((
                    Replicated,
                    Transform::default(),
                    ControlledBy { client_id },
                    Pair {
                        owner: client_id,
                        rival: 0,
                        seat: 0,
                    },
                ));
            },
        );
        let client = net.add_client();
        net.run(120);
        let id = net.client_id(client);
        let (controller, pair, predicted) = shown(&mut net, client, 0);
        assert_eq!(
            (controller.client_id, pair.owner, predicted),
            (id, id, true),
            "seed {seed}"
        );
    }
}
