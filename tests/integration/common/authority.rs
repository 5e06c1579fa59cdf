//! Client authority scenarios: a ball a client holds and pushes along x, a second
//! client-authoritative type, and helpers to read the ball on every side. Also the timeline
//! benchmark's, which uses a part of it.

#![allow(dead_code)]

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

/// The held object.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Ball;

/// A second client-authoritative type, coded by serde.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Charge(pub u32);

/// Not client-authoritative: a holder may not write it.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Score(pub u32);

/// Metres the holder pushes the ball each tick while [`Pushing`].
pub const SPEED: f32 = 0.05;

/// The server's rule keeps the ball at x ≤ this.
pub const BOUND: f32 = 5.0;

/// Whether a client's holder pushes the ball (a client resource).
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct Pushing(pub bool);

/// The protocol of every App in these tests.
pub fn protocol(app: &mut App) {
    app.replicate::<Ball>()
        .replicate::<Score>()
        .replicate_client_authoritative_with::<Transform>(TransformCodec::default())
        .replicate_client_authoritative::<Charge>()
        .interpolate::<Transform>();
}

/// A test network whose server clamps the ball at `bound` and grants every request.
pub fn net(link: LinkConditioner, seed: u64, bound: f32) -> TestNet {
    let mut net = TestNet::new(protocol)
        .with_default_link(link)
        .with_seed(seed);
    net.server_mut()
        .validate_authority::<Transform>(move |proposal| {
            if proposal.proposed.translation.x <= bound {
                return Verdict::Accept;
            }
            let mut clamped = *proposal.proposed;
            clamped.translation.x = bound;
            Verdict::Correct(clamped)
        })
        .add_systems(Update, grant_requests);
    net
}

/// The server's rule for requests: granted.
fn grant_requests(mut requests: MessageReader<AuthorityRequested>, mut commands: Commands) {
    for request in requests.read() {
        commands
            .entity(request.entity)
            .grant_authority(request.client_id);
    }
}

/// Adds a client that pushes the ball it holds while its [`Pushing`] is on.
pub fn add_pusher(net: &mut TestNet) -> usize {
    net.add_client_with(|app| {
        app.init_resource::<Pushing>()
            .add_systems(FixedUpdate, push.run_if(not_resimulating));
    })
}

fn push(pushing: Res<Pushing>, mut held: Query<&mut Transform, (With<Ball>, With<HasAuthority>)>) {
    if !pushing.0 {
        return;
    }
    for mut transform in &mut held {
        transform.translation.x += SPEED;
    }
}

/// Turns a client's pushing on or off.
pub fn set_pushing(net: &mut TestNet, client: usize, on: bool) {
    net.client_mut(client).insert_resource(Pushing(on));
}

/// The client pushes the ball for `ticks` steps, then the network settles for `settle` more.
pub fn push_then_settle(net: &mut TestNet, client: usize, ticks: usize, settle: usize) {
    set_pushing(net, client, true);
    net.run(ticks);
    set_pushing(net, client, false);
    net.run(settle);
}

/// Spawns the ball on the server.
pub fn spawn_ball(net: &mut TestNet) -> Entity {
    net.spawn_on_server((Replicated, Ball, Transform::default(), Charge(0), Score(0)))
}

/// The client's copy of a server entity.
pub fn copy_of(net: &TestNet, client: usize, server_entity: Entity) -> Option<Entity> {
    net.client(client)
        .world()
        .resource::<ServerEntityMap>()
        .to_client(server_entity)
}

/// The ball's x on the server.
pub fn server_x(net: &TestNet, ball: Entity) -> f32 {
    net.server()
        .world()
        .get::<Transform>(ball)
        .unwrap()
        .translation
        .x
}

/// The ball's x on a client, if it holds the ball.
pub fn client_x(net: &TestNet, client: usize, ball: Entity) -> Option<f32> {
    let entity = copy_of(net, client, ball)?;
    Some(
        net.client(client)
            .world()
            .get::<Transform>(entity)?
            .translation
            .x,
    )
}

/// Whether the client holds the ball (has taken up authority over it).
pub fn holds(net: &TestNet, client: usize, ball: Entity) -> bool {
    copy_of(net, client, ball).is_some_and(|entity| {
        net.client(client)
            .world()
            .get::<HasAuthority>(entity)
            .is_some()
    })
}

/// Who holds the ball on the server.
pub fn holder_id(net: &TestNet, ball: Entity) -> Option<u64> {
    net.server()
        .world()
        .get::<HeldBy>(ball)
        .map(|held| held.client_id)
}
