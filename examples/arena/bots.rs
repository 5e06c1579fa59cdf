//! Bots: headless clients steering around the arena, shooting and playing with the ball, for
//! load tests and demos. At the end they print what they saw.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_netsync::{
    client::PredictionStats,
    prelude::*,
    transport::{self, ClientSecurity, ClientSettings, ClientTransport, user_data_from_text},
};
use bevy_renet::RenetClient;
use serde::Serialize;

use crate::{
    ball::{
        Ball, Thrown, UseBall,
        physics::{REACH, within_reach},
    },
    headless,
    level::Level,
    net_args::NetArgs,
    protocol::{ArenaInput, PROTOCOL_ID, Player, direction_yaw},
    railgun::RAIL_RANGE,
};

/// Distance under which a bot shoots at someone, metres.
const SHOOTING_RANGE: f32 = 14.0;
/// Distance under which a bot goes for the free ball, metres.
const CHASE_RANGE: f32 = 30.0;
/// Seconds between two requests for the ball by one bot.
const REQUEST_EVERY: f32 = 0.5;

/// A bot's intentions. Disable it to drive the bot's [`LocalInput`] by hand (tests do).
#[derive(Resource)]
pub struct BotBrain {
    pub enabled: bool,
    seed: u64,
    waypoint: Vec2,
    ball: BallPlay,
    /// When this bot may ask for the ball again (seconds of its clock).
    next_request: f32,
}

/// What a bot does with the ball (times are seconds of its clock).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum BallPlay {
    /// Not holding it: goes for it when it is free and near.
    #[default]
    Chasing,
    /// Holding it, walking about with it until `until`.
    Carrying { until: f32 },
    /// Turned along `direction`, throws at `at`.
    Aiming { direction: Vec2, at: f32 },
    /// Just threw it: leaves it to the others until `until`.
    Resting { until: f32 },
}

impl BotBrain {
    pub fn new(seed: u64) -> Self {
        Self {
            enabled: true,
            seed: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            waypoint: Vec2::ZERO,
            ball: BallPlay::Chasing,
            next_request: 0.0,
        }
    }

    fn random(&mut self) -> f32 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Bot behaviour.
pub fn plugin(app: &mut App) {
    app.add_systems(Update, steer);
}

/// This client's transport id, once connected over netcode.
pub fn my_client_id(world: &World) -> Option<u64> {
    world
        .get_resource::<ClientTransport>()
        .map(|transport| transport.client_id())
}

/// The ball as a bot sees it: where it is, whether someone holds it, whether this bot does
/// (and has not thrown it yet).
type BallSight<'a> = (&'a Transform, Has<HeldBy>, Has<HasAuthority>, Has<Thrown>);

#[allow(clippy::too_many_arguments)]
fn steer(
    time: Res<Time>,
    mut brain: ResMut<BotBrain>,
    transport: Option<Res<ClientTransport>>,
    level: Res<Level>,
    players: Query<(&Player, &Transform, &crate::protocol::Health)>,
    balls: Query<BallSight, With<Ball>>,
    mut input: ResMut<LocalInput<ArenaInput>>,
    mut use_ball: MessageWriter<UseBall>,
) {
    if !brain.enabled {
        return;
    }
    let Some(me) = transport.map(|transport| transport.client_id()) else {
        return;
    };
    let Some((_, my_transform, _)) = players.iter().find(|(player, ..)| player.client_id == me)
    else {
        return;
    };
    let position = Vec2::new(my_transform.translation.x, my_transform.translation.z);
    if position.distance(brain.waypoint) < 1.5 || brain.waypoint == Vec2::ZERO {
        let (x, z) = (brain.random() * 2.0 - 1.0, brain.random() * 2.0 - 1.0);
        brain.waypoint = Vec2::new(x, z) * (level.half_size - Vec2::splat(2.0));
    }
    let target = players
        .iter()
        .filter(|(player, _, health)| player.client_id != me && health.0 > 0)
        .map(|(_, transform, _)| Vec2::new(transform.translation.x, transform.translation.z))
        .min_by(|a, b| a.distance(position).total_cmp(&b.distance(position)));
    let mut goal = brain.waypoint;
    let mut aim_at = target.unwrap_or(brain.waypoint);
    let mut fire = target.is_some_and(|target| target.distance(position) < SHOOTING_RANGE)
        && brain.random() < 0.5;
    if let Ok(ball) = balls.single() {
        let play = play_ball(&mut brain, time.elapsed_secs(), my_transform, ball);
        if play.press {
            use_ball.write(UseBall);
        }
        goal = play.goal.unwrap_or(goal);
        if let Some(direction) = play.aim {
            aim_at = position + direction;
            fire = false;
        }
    }
    // The rail gun now and then, at targets in its range.
    let rail = target.is_some_and(|target| target.distance(position) < RAIL_RANGE)
        && brain.random() < 0.05;
    input.0 = ArenaInput::new(
        (goal - position).normalize_or_zero(),
        direction_yaw((aim_at - position).normalize_or(Vec2::NEG_Y)),
        fire,
    )
    .with_rail(rail);
}

/// What a bot's ball play asks of it this frame.
struct BallMove {
    /// Where to walk instead of the waypoint.
    goal: Option<Vec2>,
    /// Which way to face instead of the target (and hold fire).
    aim: Option<Vec2>,
    /// Press the ball key.
    press: bool,
}

/// A bot goes for the free ball when it is near, asks for it once within reach, carries it
/// for two to four seconds, turns a random way and throws it, then leaves it to the others
/// for a while.
fn play_ball(
    brain: &mut BotBrain,
    now: f32,
    me: &Transform,
    (ball, held, has_authority, thrown): (&Transform, bool, bool, bool),
) -> BallMove {
    let holding = has_authority && !thrown;
    let mut play = BallMove {
        goal: None,
        aim: None,
        press: false,
    };
    brain.ball = match brain.ball {
        BallPlay::Chasing if holding => BallPlay::Carrying {
            until: now + 2.0 + 2.0 * brain.random(),
        },
        BallPlay::Carrying { .. } | BallPlay::Aiming { .. } if !holding => BallPlay::Chasing,
        BallPlay::Carrying { until } if now >= until => {
            let angle = brain.random() * core::f32::consts::TAU;
            BallPlay::Aiming {
                direction: Vec2::from_angle(angle),
                at: now + 0.4,
            }
        }
        BallPlay::Aiming { at, .. } if now >= at => {
            play.press = true;
            BallPlay::Resting { until: now + 2.0 }
        }
        BallPlay::Resting { until } if now >= until => BallPlay::Chasing,
        state => state,
    };
    match brain.ball {
        BallPlay::Aiming { direction, .. } => play.aim = Some(direction),
        BallPlay::Chasing if !held => {
            let at = Vec2::new(ball.translation.x, ball.translation.z);
            let from = Vec2::new(me.translation.x, me.translation.z);
            if at.distance(from) < CHASE_RANGE {
                play.goal = Some(at);
            }
            if within_reach(me, ball.translation, -0.2 * REACH) && now >= brain.next_request {
                brain.next_request = now + REQUEST_EVERY;
                play.press = true;
            }
        }
        _ => {}
    }
    play
}

/// Builds a bot App connecting to `server` as `name`.
pub fn bot_app(server: &str, name: &str, seed: u64, net: &NetArgs) -> Result<App, String> {
    let mut app = headless::headless_client();
    plugin(&mut app);
    net.apply(&mut app, seed);
    app.insert_resource(BotBrain::new(seed));
    app.finish();
    app.cleanup();
    bevy_netsync::single_threaded(&mut app);
    let settings = ClientSettings {
        security: ClientSecurity::Unsecure {
            client_id: transport::random_client_id(),
            user_data: Some(user_data_from_text(name)),
        },
        protocol_id: PROTOCOL_ID,
        ..ClientSettings::unsecure(server)
    };
    transport::connect(app.world_mut(), settings).map_err(|error| error.to_string())?;
    Ok(app)
}

/// Running averages of what one bot saw while connected.
#[derive(Default, Clone, Copy)]
pub struct BotTotals {
    frames: u64,
    rtt: f64,
    loss: f64,
    bytes_in: f64,
    bytes_out: f64,
    delay: f64,
    players_seen: usize,
    entities: usize,
    prediction: PredictionStats,
}

impl BotTotals {
    /// Adds this frame's figures of a connected bot.
    pub fn sample(&mut self, app: &mut App) {
        let world = app.world_mut();
        if *world.resource::<State<ClientState>>().get() != ClientState::Connected {
            return;
        }
        let client = world.resource::<RenetClient>();
        self.frames += 1;
        self.rtt += client.rtt();
        self.loss += client.packet_loss();
        self.bytes_in += client.bytes_received_per_sec();
        self.bytes_out += client.bytes_sent_per_sec();
        self.delay += world
            .resource::<ClientTimeline>()
            .interpolation_delay()
            .as_secs_f64();
        self.entities = world.resource::<ServerEntityMap>().len();
        self.prediction = *world.resource::<PredictionStats>();
        let players = world.query::<&Player>().iter(world).count();
        self.players_seen = self.players_seen.max(players);
    }
}

/// What the bots saw, averaged over bots and frames.
#[derive(Serialize, Debug)]
pub struct Summary {
    pub bots: usize,
    pub connected_bots: usize,
    pub duration_s: f64,
    pub players_seen_min: usize,
    pub players_seen_max: usize,
    pub rtt_ms: f64,
    pub packet_loss_percent: f64,
    pub bytes_in_per_s: f64,
    pub bytes_out_per_s: f64,
    pub interpolation_delay_ms: f64,
    pub replicated_entities: f64,
    /// Corrections of the bots' own predicted players, per bot and second.
    pub rollbacks_per_s: f64,
    /// Mean of the bots' largest corrections, centimetres.
    pub largest_correction_cm: f64,
}

/// Averages the bots' totals.
pub fn summarize(totals: &[BotTotals], duration: Duration) -> Summary {
    let connected: Vec<&BotTotals> = totals.iter().filter(|t| t.frames > 0).collect();
    let mean = |f: &dyn Fn(&BotTotals) -> f64| {
        if connected.is_empty() {
            0.0
        } else {
            connected.iter().map(|t| f(t)).sum::<f64>() / connected.len() as f64
        }
    };
    let per_frame = |f: fn(&BotTotals) -> f64| mean(&|t| f(t) / t.frames as f64);
    Summary {
        bots: totals.len(),
        connected_bots: connected.len(),
        duration_s: duration.as_secs_f64(),
        players_seen_min: connected.iter().map(|t| t.players_seen).min().unwrap_or(0),
        players_seen_max: connected.iter().map(|t| t.players_seen).max().unwrap_or(0),
        rtt_ms: per_frame(|t| t.rtt) * 1000.0,
        packet_loss_percent: per_frame(|t| t.loss) * 100.0,
        bytes_in_per_s: per_frame(|t| t.bytes_in),
        bytes_out_per_s: per_frame(|t| t.bytes_out),
        interpolation_delay_ms: per_frame(|t| t.delay) * 1000.0,
        replicated_entities: mean(&|t| t.entities as f64),
        rollbacks_per_s: mean(&|t| t.prediction.rollbacks as f64) / duration.as_secs_f64(),
        largest_correction_cm: mean(&|t| f64::from(t.prediction.largest_correction)) * 100.0,
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "bots: {} ({} connected) for {:.1} s",
            self.bots, self.connected_bots, self.duration_s
        )?;
        writeln!(
            f,
            "players seen: {}..{}",
            self.players_seen_min, self.players_seen_max
        )?;
        writeln!(
            f,
            "rtt: {:.1} ms, packet loss: {:.2} %",
            self.rtt_ms, self.packet_loss_percent
        )?;
        writeln!(
            f,
            "per bot: {:.0} B/s in, {:.0} B/s out",
            self.bytes_in_per_s, self.bytes_out_per_s
        )?;
        writeln!(
            f,
            "interpolation delay: {:.1} ms",
            self.interpolation_delay_ms
        )?;
        writeln!(f, "replicated entities: {:.1}", self.replicated_entities)?;
        write!(
            f,
            "prediction: {:.2} rollbacks/s per bot, largest correction {:.1} cm",
            self.rollbacks_per_s, self.largest_correction_cm
        )
    }
}

/// Whether a bot stopped trying: disconnected, with a reason.
fn gave_up(app: &App) -> bool {
    *app.world().resource::<State<ClientState>>().get() == ClientState::Disconnected
        && app.world().resource::<LastDisconnect>().0.is_some()
}

/// Runs `count` bots against `server` for `duration` in real time, then prints the summary.
/// Fails, with every bot's reason, if a bot never connected or lost its connection: a load test
/// whose bots were refused or dropped must not look like a passing one.
pub fn run(
    count: usize,
    server: &str,
    duration: Duration,
    json: bool,
    net: &NetArgs,
) -> Result<(), String> {
    let mut apps = (0..count)
        .map(|i| bot_app(server, &format!("bot-{}", i + 1), i as u64 + 1, net))
        .collect::<Result<Vec<_>, _>>()?;
    // One capture file per bot, numbered like the bots.
    for (index, app) in apps.iter_mut().enumerate() {
        net.capture.start(app, Some(index + 1))?;
    }
    let mut totals = vec![BotTotals::default(); count];
    let frame = Duration::from_secs_f64(1.0 / headless::HEADLESS_FPS);
    let start = Instant::now();
    let mut next_frame = start;
    let mut ever_connected = vec![false; count];
    while start.elapsed() < duration {
        for ((app, totals), ever) in apps.iter_mut().zip(&mut totals).zip(&mut ever_connected) {
            app.update();
            totals.sample(app);
            *ever |= *app.world().resource::<State<ClientState>>().get() == ClientState::Connected;
        }
        // Nobody answers: when no bot ever connected and every one has given up, stop now
        // rather than at the end of the run.
        if !ever_connected.contains(&true) && apps.iter().all(gave_up) {
            break;
        }
        next_frame += frame;
        if let Some(wait) = next_frame.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let failures: Vec<String> = apps
        .iter_mut()
        .enumerate()
        .filter_map(|(index, app)| {
            let world = app.world_mut();
            let connected = *world.resource::<State<ClientState>>().get() == ClientState::Connected;
            let reason = world.resource::<LastDisconnect>().0.clone();
            match (connected, reason) {
                (true, _) => None,
                (false, Some(reason)) => Some(format!("bot-{}: {reason}", index + 1)),
                (false, None) => Some(format!("bot-{}: never connected", index + 1)),
            }
        })
        .collect();
    for app in &mut apps {
        transport::disconnect(app.world_mut());
    }
    let summary = summarize(&totals, start.elapsed());
    if json {
        println!(
            "{}",
            serde_json::to_string(&summary).map_err(|e| e.to_string())?
        );
    } else {
        println!("{summary}");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {count} bots were not connected at the end:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}
