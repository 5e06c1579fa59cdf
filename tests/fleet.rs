//! The fleet plugin against a stand-in Agones SDK server (`fleet_support/sdk_stand_in.rs`):
//! what it tells the SDK server and when, with a real server and real clients over UDP on
//! loopback. Timings are checked with room to spare: every wait polls for its condition, up to
//! several seconds.

#[allow(dead_code)]
#[path = "fleet_support/sdk_stand_in.rs"]
mod sdk_stand_in;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use bevy::{prelude::*, time::TimeUpdateStrategy};
use bevy_netsync::{
    fleet::{FleetGameServer, FleetPlugin, FleetSettings, FleetState, MatchOver, SdkConnection},
    prelude::*,
    transport::{self, ClientSecurity, ClientSettings, ServerAddresses, ServerSettings},
};
use sdk_stand_in::{Call, StandIn, wait_until};

/// One 60 Hz frame of a client's time.
const FRAME: Duration = Duration::from_nanos(16_666_667);
/// The longest any condition is waited for.
const PATIENCE: Duration = Duration::from_secs(10);
/// The health interval of these tests.
const PING_EVERY: Duration = Duration::from_millis(100);

/// Fleet settings for a stand-in on `port`: quick pings, no shutdown when empty, SIGTERM left
/// alone (tests run side by side in one process).
fn settings(port: u16) -> FleetSettings {
    FleetSettings {
        health_interval: PING_EVERY,
        shutdown_when_empty_after: None,
        sdk_port: Some(port),
        exit_on_sigterm: false,
        exit_timeout: Duration::from_secs(5),
        ..default()
    }
}

/// A headless server App with the fleet plugin; not listening yet. Its time is the wall
/// clock's, as in a real server: the plugin's intervals are `Time<Real>`.
fn fleet_server(settings: FleetSettings) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, NetsyncPlugins::default()))
        .add_plugins(FleetPlugin { settings });
    app.finish();
    app.cleanup();
    bevy_netsync::single_threaded(&mut app);
    app
}

/// Starts the transport on a free loopback port.
fn listen(server: &mut App, max_clients: usize) -> ServerAddresses {
    let settings = ServerSettings {
        bind: "127.0.0.1:0".into(),
        max_clients,
        ..default()
    };
    transport::start_server(server.world_mut(), &settings).expect("the server starts")
}

/// A client App connecting to `server` as `client_id`.
fn client(server: &ServerAddresses, client_id: u64) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, NetsyncPlugins::default()))
        .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME));
    app.finish();
    app.cleanup();
    bevy_netsync::single_threaded(&mut app);
    let settings = ClientSettings {
        security: ClientSecurity::Unsecure {
            client_id,
            user_data: None,
        },
        ..ClientSettings::unsecure(server.local.to_string())
    };
    transport::connect(app.world_mut(), settings).expect("the client starts");
    app
}

/// Updates every App once, then lets a few milliseconds pass.
fn step(apps: &mut [&mut App]) {
    for app in apps.iter_mut() {
        app.update();
    }
    std::thread::sleep(Duration::from_millis(4));
}

/// Steps until `done` holds; panics (naming `what`) after [`PATIENCE`].
fn run_until(apps: &mut [&mut App], what: &str, mut done: impl FnMut(&mut [&mut App]) -> bool) {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        step(apps);
        if done(apps) {
            return;
        }
    }
    panic!("{what}: not within {PATIENCE:?}");
}

/// Steps for `duration` of real time.
fn run_for(apps: &mut [&mut App], duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        step(apps);
    }
}

fn fleet_state(app: &App) -> FleetState {
    *app.world().resource::<State<FleetState>>().get()
}

fn connection(app: &App) -> SdkConnection {
    app.world().resource::<SdkConnection>().clone()
}

/// The ids of the server's connected clients, as player ids.
fn player_ids(server: &mut App) -> BTreeSet<String> {
    let world = server.world_mut();
    world
        .query::<&ConnectedClient>()
        .iter(world)
        .map(|client| client.id().to_string())
        .collect()
}

fn last_disconnect(app: &App) -> Option<DisconnectReason> {
    app.world().resource::<LastDisconnect>().0.clone()
}

#[test]
fn ready_comes_once_the_server_listens_after_the_capacity() {
    let stand_in = StandIn::start();
    let mut server = fleet_server(settings(stand_in.port()));
    run_until(&mut [&mut server], "connected to the SDK server", |apps| {
        connection(apps[0]) == SdkConnection::Connected
    });
    // Connected, pinging, but not listening: not Ready.
    run_for(&mut [&mut server], Duration::from_millis(300));
    assert!(stand_in.first(&Call::Health).is_some(), "no health ping");
    assert_eq!(stand_in.first(&Call::Ready), None, "Ready before listening");
    assert_eq!(fleet_state(&server), FleetState::Starting);

    let listening_at = Instant::now();
    listen(&mut server, 5);
    run_until(&mut [&mut server], "the game sees Ready", |apps| {
        fleet_state(apps[0]) == FleetState::Ready
    });
    let ready_at = stand_in.first(&Call::Ready).expect("Ready was called");
    assert!(ready_at > listening_at);
    let capacity_at = stand_in
        .first(&Call::SetPlayerCapacity(5))
        .expect("the capacity is max_clients");
    assert!(capacity_at <= ready_at, "capacity after Ready");
    let record = server.world().resource::<FleetGameServer>();
    assert_eq!(record.state, "Ready");
    assert_eq!(record.name, "arena-fleet-x7k2p");
    assert_eq!(record.address, "203.0.113.7");
    // Once per process.
    run_for(&mut [&mut server], Duration::from_millis(200));
    assert_eq!(stand_in.calls_where(|call| *call == Call::Ready).len(), 1);
}

#[test]
fn health_pings_come_from_the_game_loop_and_stop_while_it_stalls() {
    let stand_in = StandIn::start();
    let mut server = fleet_server(settings(stand_in.port()));
    listen(&mut server, 4);
    run_until(&mut [&mut server], "pings arrive", |_| {
        stand_in.calls_where(|call| *call == Call::Health).len() >= 3
    });

    let running = Instant::now();
    run_for(&mut [&mut server], Duration::from_secs(1));
    let pinged = stand_in.pings_between(running, Instant::now());
    // Every 100 ms: about 10, never a burst; fewer only if frames were very slow.
    assert!((3..=12).contains(&pinged), "{pinged} pings in 1 s");

    // The game loop stalls for a second: the SDK server hears nothing.
    let stalled = Instant::now();
    std::thread::sleep(Duration::from_millis(1200));
    let resumed = Instant::now();
    assert_eq!(
        stand_in.pings_between(stalled + Duration::from_millis(300), resumed),
        0,
        "pings while the game loop stood still"
    );

    run_for(&mut [&mut server], Duration::from_millis(600));
    assert!(
        stand_in.pings_between(resumed, Instant::now()) >= 2,
        "pings did not resume"
    );
    // The missed pings are not made up for: one at once, then at the interval again.
    assert!(stand_in.pings_between(resumed, resumed + Duration::from_millis(80)) <= 1);
}

#[test]
fn players_are_reported_as_they_join_and_leave() {
    let stand_in = StandIn::start();
    let mut server = fleet_server(settings(stand_in.port()));
    let addresses = listen(&mut server, 4);
    let mut ada = client(&addresses, 1001);
    let mut bo = client(&addresses, 2002);
    run_until(&mut [&mut server, &mut ada, &mut bo], "both join", |apps| {
        player_ids(apps[0]).len() == 2
    });
    let joined = player_ids(&mut server);
    assert_eq!(joined, BTreeSet::from(["1001".into(), "2002".into()]));
    assert!(wait_until(PATIENCE, || stand_in.players_reported().0 == joined));
    assert!(
        stand_in.first(&Call::SetPlayerCapacity(4)).is_some(),
        "capacity is max_clients"
    );

    transport::disconnect(ada.world_mut());
    run_until(
        &mut [&mut server, &mut ada, &mut bo],
        "Ada leaves",
        |apps| player_ids(apps[0]).len() == 1,
    );
    assert!(wait_until(PATIENCE, || {
        stand_in.players_reported().1 == BTreeSet::from(["1001".into()])
    }));
    assert_eq!(stand_in.players_reported().0, joined);
}

#[test]
fn an_allocation_reaches_the_game_with_its_labels() {
    #[derive(Resource, Default)]
    struct MatchesStarted(u32);

    let stand_in = StandIn::start();
    let mut server = fleet_server(settings(stand_in.port()));
    server.init_resource::<MatchesStarted>().add_systems(
        OnEnter(FleetState::Allocated),
        |mut started: ResMut<MatchesStarted>| {
            started.0 += 1;
        },
    );
    listen(&mut server, 8);
    run_until(&mut [&mut server], "Ready", |apps| {
        fleet_state(apps[0]) == FleetState::Ready
    });
    assert_eq!(server.world().resource::<MatchesStarted>().0, 0);

    stand_in.allocate(&[("match", "m-42"), ("map", "field")]);
    run_until(&mut [&mut server], "Allocated", |apps| {
        fleet_state(apps[0]) == FleetState::Allocated
    });
    run_for(&mut [&mut server], Duration::from_millis(100));
    assert_eq!(server.world().resource::<MatchesStarted>().0, 1);
    let record = server.world().resource::<FleetGameServer>();
    assert_eq!(record.state, "Allocated");
    assert_eq!(record.labels.get("match").map(String::as_str), Some("m-42"));
    assert_eq!(record.labels.get("map").map(String::as_str), Some("field"));
}

#[test]
fn an_allocated_server_left_empty_shuts_down_and_exits() {
    let stand_in = StandIn::start();
    let mut server = fleet_server(FleetSettings {
        shutdown_when_empty_after: Some(Duration::from_millis(300)),
        ..settings(stand_in.port())
    });
    let addresses = listen(&mut server, 4);
    run_until(&mut [&mut server], "Ready", |apps| {
        fleet_state(apps[0]) == FleetState::Ready
    });
    // Empty but not allocated: waiting in the pool, not shutting down.
    run_for(&mut [&mut server], Duration::from_millis(600));
    assert_eq!(stand_in.first(&Call::Shutdown), None);

    let mut ada = client(&addresses, 1001);
    run_until(&mut [&mut server, &mut ada], "Ada joins", |apps| {
        player_ids(apps[0]).len() == 1
    });
    stand_in.allocate(&[]);
    run_until(&mut [&mut server, &mut ada], "Allocated", |apps| {
        fleet_state(apps[0]) == FleetState::Allocated
    });
    // A player keeps it alive.
    run_for(&mut [&mut server, &mut ada], Duration::from_millis(600));
    assert_eq!(stand_in.first(&Call::Shutdown), None);

    transport::disconnect(ada.world_mut());
    run_until(&mut [&mut server, &mut ada], "exit", |apps| {
        apps[0].should_exit().is_some()
    });
    assert_eq!(server.should_exit(), Some(AppExit::Success));
    let left_at = stand_in
        .first(&Call::PlayerDisconnect("1001".into()))
        .expect("Ada's leaving was reported");
    let shutdown_at = stand_in
        .first(&Call::Shutdown)
        .expect("Shutdown was called");
    assert!(
        shutdown_at.duration_since(left_at) >= Duration::from_millis(250),
        "shut down {:?} after the last player left",
        shutdown_at.duration_since(left_at)
    );
    assert_eq!(stand_in.state(), "Shutdown");
}

#[test]
fn match_over_shuts_down_and_every_client_hears_why() {
    let stand_in = StandIn::start();
    let mut server = fleet_server(settings(stand_in.port()));
    let addresses = listen(&mut server, 4);
    let mut ada = client(&addresses, 1001);
    let mut bo = client(&addresses, 2002);
    run_until(
        &mut [&mut server, &mut ada, &mut bo],
        "both join and the server is Ready",
        |apps| player_ids(apps[0]).len() == 2 && fleet_state(apps[0]) == FleetState::Ready,
    );
    assert_eq!(stand_in.first(&Call::Shutdown), None);

    server.world_mut().write_message(MatchOver);
    run_until(&mut [&mut server, &mut ada, &mut bo], "exit", |apps| {
        apps[0].should_exit().is_some()
    });
    assert!(stand_in.first(&Call::Shutdown).is_some());
    assert_eq!(
        stand_in.calls_where(|call| *call == Call::Shutdown).len(),
        1
    );
    // The server's last frame told the clients; they hear it without it running on.
    run_until(&mut [&mut ada, &mut bo], "the clients hear why", |apps| {
        apps.iter()
            .all(|app| last_disconnect(app) == Some(DisconnectReason::ServerShutdown))
    });
}

#[test]
fn an_absent_sdk_server_costs_the_game_nothing_and_is_found_later() {
    // A port nobody listens on (for now).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = fleet_server(settings(port));
    listen(&mut server, 6);
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        let frame = Instant::now();
        server.update();
        slowest = slowest.max(frame.elapsed());
        std::thread::sleep(Duration::from_millis(4));
    }
    assert!(
        slowest < Duration::from_millis(250),
        "a frame took {slowest:?}"
    );
    assert!(
        matches!(connection(&server), SdkConnection::Unreachable(_)),
        "{:?}",
        connection(&server)
    );
    assert_eq!(fleet_state(&server), FleetState::Starting);

    // The SDK server comes up: it hears what it missed.
    let stand_in = StandIn::start_on(port, "Scheduled");
    run_until(
        &mut [&mut server],
        "Ready reaches the late SDK server",
        |apps| fleet_state(apps[0]) == FleetState::Ready,
    );
    assert!(stand_in.first(&Call::SetPlayerCapacity(6)).is_some());
    run_until(&mut [&mut server], "pings reach it", |_| {
        stand_in.first(&Call::Health).is_some()
    });
    assert_eq!(connection(&server), SdkConnection::Connected);
}

#[test]
fn an_sdk_server_that_goes_away_is_found_again_and_told_again() {
    let mut first = StandIn::start();
    let port = first.port();
    let mut server = fleet_server(settings(port));
    let addresses = listen(&mut server, 4);
    let mut ada = client(&addresses, 1001);
    run_until(&mut [&mut server, &mut ada], "Ada joins, Ready", |apps| {
        player_ids(apps[0]).len() == 1 && fleet_state(apps[0]) == FleetState::Ready
    });
    assert!(wait_until(PATIENCE, || {
        first.first(&Call::PlayerConnect("1001".into())).is_some()
    }));

    first.stop();
    run_until(&mut [&mut server, &mut ada], "the loss is seen", |apps| {
        matches!(connection(apps[0]), SdkConnection::Unreachable(_))
    });
    // The game plays on.
    run_for(&mut [&mut server, &mut ada], Duration::from_millis(500));
    assert_eq!(player_ids(&mut server).len(), 1);

    // A restarted sidecar knows nothing: it is told the capacity, the player and Ready.
    let second = StandIn::start_on(port, "Scheduled");
    run_until(&mut [&mut server, &mut ada], "told again", |_| {
        second.first(&Call::Ready).is_some()
            && second.first(&Call::PlayerConnect("1001".into())).is_some()
            && second.first(&Call::SetPlayerCapacity(4)).is_some()
    });
    run_until(&mut [&mut server, &mut ada], "pings again", |_| {
        second.first(&Call::Health).is_some()
    });
    assert_eq!(connection(&server), SdkConnection::Connected);
}

#[test]
fn a_reconnect_does_not_put_an_allocated_server_back_in_the_pool() {
    let mut first = StandIn::start();
    let port = first.port();
    let mut server = fleet_server(settings(port));
    listen(&mut server, 4);
    run_until(&mut [&mut server], "Ready", |apps| {
        fleet_state(apps[0]) == FleetState::Ready
    });
    first.allocate(&[]);
    run_until(&mut [&mut server], "Allocated", |apps| {
        fleet_state(apps[0]) == FleetState::Allocated
    });

    first.stop();
    run_until(&mut [&mut server], "the loss is seen", |apps| {
        matches!(connection(apps[0]), SdkConnection::Unreachable(_))
    });
    // The same sidecar back after a blink: it still holds the allocation.
    let second = StandIn::start_on(port, "Allocated");
    run_until(&mut [&mut server], "pings again", |_| {
        second.first(&Call::Health).is_some()
    });
    run_for(&mut [&mut server], Duration::from_millis(300));
    assert_eq!(second.first(&Call::Ready), None);
    assert_eq!(fleet_state(&server), FleetState::Allocated);
}
