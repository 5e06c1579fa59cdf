//! Host mode: one App is the server and has a local player, without a socket for it.

use crate::common::{udp::*, *};
use bevy::prelude::*;
use bevy_netsync::{prelude::*, server::LOCAL_CLIENT_ID};

#[test]
fn host_and_remote_clients_all_see_the_same_players() {
    let (mut host, addresses) = server(&loopback_server());
    collect::<FromClient<Chat>>(&mut host);
    collect::<ChatLine>(&mut host);
    let local = spawn_local_client(host.world_mut());
    let mut a = client(client_settings(&addresses));
    let mut b = client(client_settings(&addresses));
    collect::<ChatLine>(&mut a);

    step_until(&mut [&mut host, &mut a, &mut b], 120, |apps| {
        client_snapshot(apps[1]).len() == 3 && client_snapshot(apps[2]).len() == 3
    });
    step(&mut [&mut host, &mut a, &mut b]);

    let players = |app: &mut App| {
        let world = app.world_mut();
        let mut ids: Vec<u64> = world.query::<&Player>().iter(world).map(|p| p.0).collect();
        ids.sort();
        ids
    };
    let on_host = players(&mut host);
    assert_eq!(on_host.len(), 3);
    assert!(on_host.contains(&LOCAL_CLIENT_ID));
    assert_eq!(players(&mut a), on_host);
    assert_eq!(players(&mut b), on_host);
    assert_eq!(client_snapshot(&mut a), server_snapshot(&mut host));
    assert_eq!(client_snapshot(&mut b), server_snapshot(&mut host));

    // The host's own messages arrive as if from a client; broadcasts reach it locally.
    host.world_mut()
        .write_message(Chat("hello from the host".into()));
    host.world_mut().write_message(ToClients {
        mode: SendMode::Broadcast,
        message: ChatLine("to everyone".into()),
    });
    step(&mut [&mut host, &mut a, &mut b]);
    step(&mut [&mut host, &mut a, &mut b]);
    let chats = collected::<FromClient<Chat>>(&host);
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].client, local);
    assert_eq!(chats[0].client_id, LOCAL_CLIENT_ID);
    assert_eq!(
        collected::<ChatLine>(&host),
        [ChatLine("to everyone".into())]
    );
    assert_eq!(collected::<ChatLine>(&a), [ChatLine("to everyone".into())]);
}
