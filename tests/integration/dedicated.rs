//! A dedicated server App without the client plugin, and client Apps without the server plugin
//! (`NetsyncPlugins::default().build().disable::<..>()`): the same protocol, each side's own
//! systems only.

use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::TestNet};
use serde::{Deserialize, Serialize};

/// A client-authoritative value and an input, besides the shared protocol.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
struct Charge(u32);

#[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Debug)]
struct Throttle(u8);

fn protocol(app: &mut App) {
    crate::common::protocol(app);
    app.replicate_with::<Transform>(TransformCodec::default())
        .interpolate::<Transform>()
        .replicate_client_authoritative::<Charge>()
        .add_input::<Throttle>();
}

#[test]
fn each_side_runs_alone_and_they_agree() {
    let mut net = TestNet::dedicated(protocol);
    assert!(!net.server().is_plugin_added::<ClientPlugin>());
    assert!(
        !net.server()
            .world()
            .contains_resource::<State<ClientState>>()
    );
    collect::<FromClient<Chat>>(net.server_mut());
    let client = net.add_client();
    assert!(!net.client(client).is_plugin_added::<ServerPlugin>());
    collect::<ChatLine>(net.client_mut(client));

    let world = net.server_mut().world_mut();
    let first = world.spawn((Replicated, Health(3))).id();
    world.spawn((
        Replicated,
        Position(Vec3::new(1.0, 2.0, 3.0)),
        Target(first),
        Transform::from_xyz(4.0, 5.0, 6.0),
    ));
    net.run(10);
    assert_converged(&mut net, client);

    // Changes and despawns follow.
    let world = net.server_mut().world_mut();
    world.entity_mut(first).insert(Health(9));
    let mut moved = world.query_filtered::<&mut Transform, With<Target>>();
    moved.single_mut(world).unwrap().translation.x = -4.0;
    // Long enough for the interpolated copy to reach the new place.
    net.run(40);
    assert_converged(&mut net, client);
    let world = net.client_mut(client).world_mut();
    let seen = world
        .query_filtered::<&Transform, With<Target>>()
        .single(world)
        .unwrap()
        .translation;
    assert!((seen.x + 4.0).abs() < 0.01, "client sees {seen}");

    // Messages go both ways.
    net.client_mut(client)
        .world_mut()
        .write_message(Chat("from a client-only App".into()));
    net.server_mut().world_mut().write_message(ToClients {
        mode: SendMode::Broadcast,
        message: ChatLine("from a server-only App".into()),
    });
    net.run(5);
    let chats: Vec<_> = collected::<FromClient<Chat>>(net.server())
        .into_iter()
        .map(|chat| chat.message)
        .collect();
    assert_eq!(chats, [Chat("from a client-only App".into())]);
    assert_eq!(
        collected::<ChatLine>(net.client(client)),
        [ChatLine("from a server-only App".into())]
    );

    net.server_mut().world_mut().despawn(first);
    net.run(10);
    assert_converged(&mut net, client);
}

/// A one-sided App learns its side from the plugins: a protocol registered before them added
/// both sides' parts, and is refused at startup with what to do instead.
#[test]
#[should_panic(expected = "Register the protocol after adding the plugins")]
fn a_one_sided_app_refuses_a_protocol_registered_before_its_plugins() {
    let mut app = App::new();
    crate::common::protocol(&mut app);
    app.add_plugins((
        MinimalPlugins,
        NetsyncPlugins::default().build().disable::<ClientPlugin>(),
    ));
    app.finish();
}

/// With both sides, registering before the plugins still works.
#[test]
fn a_two_sided_app_takes_a_protocol_registered_before_its_plugins() {
    let mut app = App::new();
    crate::common::protocol(&mut app);
    app.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
    app.finish();
    app.cleanup();
    app.update();
    app.world_mut().spawn((Replicated, Health(1)));
    app.update();
}

/// The transport carries datagrams for the side plugins added before it; one added after it
/// is refused at startup, not left silent.
#[test]
#[should_panic(expected = "NetcodeTransportPlugin was added before ServerPlugin or ClientPlugin")]
fn a_transport_added_before_its_side_plugins_is_refused() {
    use bevy_netsync::{shared::SharedPlugin, transport::NetcodeTransportPlugin};
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        SharedPlugin::default(),
        NetcodeTransportPlugin,
        ServerPlugin::default(),
    ));
    app.finish();
}
