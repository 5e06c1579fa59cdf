use crate::common::*;
use bevy::prelude::*;
use bevy_netsync::prelude::*;

fn connected_net(clients: usize) -> (bevy_netsync::testing::TestNet, Vec<Entity>) {
    let mut net = net();
    collect::<FromClient<Chat>>(net.server_mut());
    collect::<FromClient<Ping>>(net.server_mut());
    for _ in 0..clients {
        let client = net.add_client();
        collect::<ChatLine>(net.client_mut(client));
        collect::<Pong>(net.client_mut(client));
    }
    net.run(5);
    let mut client_entities = Vec::new();
    for client in 0..clients {
        let id = net.client_id(client);
        let world = net.server_mut().world_mut();
        let entity = world
            .query::<(Entity, &ConnectedClient)>()
            .iter(world)
            .find(|(_, connected)| connected.id() == id)
            .map(|(entity, _)| entity)
            .expect("client joined");
        client_entities.push(entity);
    }
    (net, client_entities)
}

#[test]
fn client_messages_reach_the_server_with_their_sender() {
    let (mut net, entities) = connected_net(2);
    net.client_mut(0)
        .world_mut()
        .write_message(Chat("hello from 0".into()));
    net.client_mut(1).world_mut().write_message(Ping(41));
    net.client_mut(1).world_mut().write_message(Ping(42));
    net.run(3);

    let chats = collected::<FromClient<Chat>>(net.server());
    assert_eq!(
        chats,
        [FromClient {
            client: entities[0],
            client_id: net.client_id(0),
            message: Chat("hello from 0".into()),
        }]
    );
    let pings: Vec<_> = collected::<FromClient<Ping>>(net.server())
        .into_iter()
        .map(|ping| (ping.client, ping.message))
        .collect();
    assert_eq!(pings, [(entities[1], Ping(41)), (entities[1], Ping(42))]);
}

#[test]
fn server_messages_reach_the_clients_their_mode_names() {
    let (mut net, entities) = connected_net(3);
    let world = net.server_mut().world_mut();
    world.write_message(ToClients {
        mode: SendMode::Broadcast,
        message: ChatLine("all".into()),
    });
    world.write_message(ToClients {
        mode: SendMode::BroadcastExcept(entities[1]),
        message: ChatLine("not 1".into()),
    });
    world.write_message(ToClients {
        mode: SendMode::Direct(entities[2]),
        message: Pong(7),
    });
    net.run(3);

    let lines = |net: &bevy_netsync::testing::TestNet, client| {
        collected::<ChatLine>(net.client(client))
            .into_iter()
            .map(|line| line.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(&net, 0), ["all", "not 1"]);
    assert_eq!(lines(&net, 1), ["all"]);
    assert_eq!(lines(&net, 2), ["all", "not 1"]);
    assert!(collected::<Pong>(net.client(0)).is_empty());
    assert!(collected::<Pong>(net.client(1)).is_empty());
    assert_eq!(collected::<Pong>(net.client(2)), [Pong(7)]);
}

#[test]
fn reliable_messages_survive_a_lossy_link_in_order() {
    let (mut net, _) = connected_net(1);
    net.set_link(
        0,
        bevy_netsync::testing::LinkConditioner::new(40, 10, 0.3).with_reorder(0.2),
    );
    for i in 0..50 {
        net.client_mut(0)
            .world_mut()
            .write_message(Chat(format!("line {i}")));
        net.server_mut().world_mut().write_message(ToClients {
            mode: SendMode::Broadcast,
            message: ChatLine(format!("line {i}")),
        });
        net.step();
    }
    net.run(180);
    let expected: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    let received: Vec<String> = collected::<FromClient<Chat>>(net.server())
        .into_iter()
        .map(|chat| chat.message.0)
        .collect();
    assert_eq!(received, expected);
    let lines: Vec<String> = collected::<ChatLine>(net.client(0))
        .into_iter()
        .map(|line| line.0)
        .collect();
    assert_eq!(lines, expected);
}
