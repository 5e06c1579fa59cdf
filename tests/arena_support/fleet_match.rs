//! The arena's server as `server --fleet` runs it, beside a stand-in SDK server: a match that
//! ends on time, and SIGTERM.

use super::*;

/// The arena's server as `server --fleet` runs it, beside a stand-in SDK server: it listens
/// once the SDK server says where players reach it, plays matches of `length`, with two bots.
fn fleet_arena(stand_in: &sdk_stand_in::StandIn, length: Duration, sigterm: bool) -> Arena {
    #[derive(clap::Parser)]
    struct Server {
        #[command(flatten)]
        serve: net_args::ServeArgs,
    }

    let settings = bevy_netsync::fleet::FleetSettings {
        sdk_port: Some(stand_in.port()),
        health_interval: Duration::from_millis(100),
        exit_on_sigterm: sigterm,
        ..default()
    };
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let setup = |server: &mut App| {
        fleet::plugin(server, settings, length);
        let serve =
            <Server as clap::Parser>::parse_from(["server", "--port", &port.to_string()]).serve;
        let settings = serve.prepare(server, "127.0.0.1", Vec::new(), 16).unwrap();
        fleet::serve_when_placed(server, serve, settings);
    };
    let start = |server: &mut App| {
        // Not listening before the SDK server said where players reach the server.
        for _ in 0..30 {
            server.update();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            !server
                .world()
                .contains_resource::<transport::ServerAddresses>()
        );
        stand_in.place("127.0.0.1", &[("game", port)]);
        let start = std::time::Instant::now();
        while !server
            .world()
            .contains_resource::<transport::ServerAddresses>()
        {
            assert!(start.elapsed() < Duration::from_secs(10), "not listening");
            server.update();
            std::thread::sleep(Duration::from_millis(5));
        }
        let addresses = server.world().resource::<transport::ServerAddresses>();
        assert_eq!(
            addresses.public,
            [format!("127.0.0.1:{port}").parse().unwrap()]
        );
        addresses.local.to_string()
    };
    let mut arena = Arena::on_level_with(2, false, level::DEFAULT_LEVEL, setup, start);
    let start = std::time::Instant::now();
    while stand_in.first(&sdk_stand_in::Call::Ready).is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "no Ready");
        arena.step();
    }
    arena
}

/// Steps until the server App exits, then the bots until each heard why.
fn run_to_the_end(arena: &mut Arena) {
    let start = std::time::Instant::now();
    while arena.server.should_exit().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the server did not exit"
        );
        arena.step();
    }
    assert_eq!(arena.server.should_exit(), Some(AppExit::Success));
    for _ in 0..240 {
        for bot in &mut arena.bots {
            bot.update();
        }
        std::thread::sleep(Duration::from_millis(1));
        if arena.bots.iter().all(|bot| {
            bot.world().resource::<LastDisconnect>().0 == Some(DisconnectReason::ServerShutdown)
        }) {
            return;
        }
    }
    panic!("the bots did not hear that the server shut down");
}

#[test]
fn a_fleet_match_ends_on_time_and_the_server_leaves_the_fleet() {
    let stand_in = sdk_stand_in::StandIn::start();
    let length = Duration::from_secs(2);
    let mut arena = fleet_arena(&stand_in, length, false);
    assert!(
        stand_in
            .first(&sdk_stand_in::Call::SetPlayerCapacity(16))
            .is_some(),
        "the capacity is the server's max_clients"
    );
    stand_in.allocate(&[("match", "arena-1")]);
    run_to_the_end(&mut arena);
    // The clock started with the first player (the bots joined before the allocation).
    let world = arena.server.world();
    let started = world.resource::<fleet::MatchClock>().started.unwrap();
    let played = world.resource::<Time<Virtual>>().elapsed() - started;
    assert!(
        played >= length && played < length + Duration::from_secs(1),
        "the match lasted {played:?}"
    );
    assert!(stand_in.first(&sdk_stand_in::Call::Shutdown).is_some());
    assert_eq!(stand_in.state(), "Shutdown");
    let (joined, _) = stand_in.players_reported();
    assert_eq!(joined.len(), 2, "{joined:?}");
}

#[test]
fn sigterm_tells_every_player_the_server_shuts_down() {
    let stand_in = sdk_stand_in::StandIn::start();
    // No other test of this binary listens for SIGTERM: only this server hears it.
    let mut arena = fleet_arena(&stand_in, Duration::from_secs(600), true);
    arena.run(30);
    // SAFETY: a signal to our own process, which the fleet plugin now handles.
    let sent = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    assert_eq!(sent, 0);
    run_to_the_end(&mut arena);
    // Not a match that ended: Kubernetes is already stopping the pod, no Shutdown to ask.
    assert_eq!(stand_in.first(&sdk_stand_in::Call::Shutdown), None);
}
