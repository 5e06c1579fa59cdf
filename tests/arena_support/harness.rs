//! The arena's test harness: a headless server and bots over real UDP on loopback, time
//! stepped by hand, with what the server simulated and what each bot predicted, drew and heard.

use std::{collections::BTreeMap, time::Duration};

use bevy::{prelude::*, time::TimeUpdateStrategy};
use bevy_netsync::{prelude::*, transport};

use super::{
    bots,
    drawing::{Drawn, drawing_errors, record_drawn},
    headless, level, net_args,
    protocol::{ArenaInput, ChatLine, Player, Score},
};

pub const FRAME: Duration = Duration::from_nanos(16_666_667);

/// Player positions the server simulated, by tick and client id.
#[derive(Resource, Default)]
pub struct History(pub BTreeMap<u32, BTreeMap<String, Vec3>>);

fn record_history(
    tick: Res<ServerTick>,
    players: Query<(&Player, &Transform)>,
    mut history: ResMut<History>,
) {
    let positions = players
        .iter()
        .map(|(player, transform)| (player.name.clone(), transform.translation))
        .collect();
    history.0.insert(tick.0.0, positions);
}

/// A bot's own player where it predicted it, by tick (re-simulated ticks overwrite).
#[derive(Resource, Default)]
pub struct Predictions(pub BTreeMap<u32, Vec3>);

fn record_predictions(
    tick: Res<PredictedTick>,
    players: Query<&Transform, (With<Player>, With<Predicted>)>,
    mut predictions: ResMut<Predictions>,
) {
    if let (Some(tick), Ok(transform)) = (tick.tick(), players.single()) {
        predictions.0.insert(tick.0, transform.translation);
    }
}

/// Chat lines a bot received.
#[derive(Resource, Default)]
pub struct Heard(pub Vec<ChatLine>);

fn listen(mut lines: MessageReader<ChatLine>, mut heard: ResMut<Heard>) {
    heard.0.extend(lines.read().cloned());
}

pub struct Arena {
    pub server: App,
    pub bots: Vec<App>,
}

impl Arena {
    /// A server on the `arena` level and `bots` bots that all see each other.
    pub fn new(bots: usize, brains: bool) -> Self {
        let mut arena = Self::on_level(bots, brains, level::DEFAULT_LEVEL);
        let count = arena.bots.len();
        arena.run_until(240, |arena| {
            (0..count).all(|i| arena.players_seen(i) == count)
        });
        arena
    }

    /// A server on `level` and `bots` bots, once every bot has its player on the server.
    pub fn on_level(bots: usize, brains: bool, level: &str) -> Self {
        Self::on_level_with(bots, brains, level, |_| {}, listen_on_loopback)
    }

    /// [`on_level`](Self::on_level) with `setup` adding to the server App before it is
    /// finished, and `start` starting its transport, returning the address bots connect to.
    pub fn on_level_with(
        bots: usize,
        brains: bool,
        level: &str,
        setup: impl FnOnce(&mut App),
        start: impl FnOnce(&mut App) -> String,
    ) -> Self {
        let mut server = App::new();
        server.add_plugins(MinimalPlugins);
        headless::server_game(&mut server);
        level::choose(&mut server, level).unwrap();
        setup(&mut server);
        server
            .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME))
            .init_resource::<History>()
            .add_systems(FixedPostUpdate, record_history);
        server.finish();
        server.cleanup();
        bevy_netsync::single_threaded(&mut server);
        let address = start(&mut server);
        let bots = (0..bots)
            .map(|i| {
                let mut bot = bots::bot_app(
                    &address,
                    &bot_name(i),
                    i as u64 + 7,
                    &net_args::NetArgs::default(),
                )
                .unwrap();
                bot.insert_resource(TimeUpdateStrategy::ManualDuration(FRAME))
                    .init_resource::<Heard>()
                    .init_resource::<Predictions>()
                    .init_resource::<Drawn>()
                    .add_systems(PreUpdate, record_drawn.after(ClientSet::Interpolate))
                    .add_systems(Update, listen)
                    .add_systems(FixedPostUpdate, record_predictions);
                bot.world_mut().resource_mut::<bots::BotBrain>().enabled = brains;
                bot
            })
            .collect();
        let mut arena = Self { server, bots };
        let count = arena.bots.len();
        arena.run_until(240, |arena| arena.players_on_server() == count);
        arena
    }

    pub fn step(&mut self) {
        self.server.update();
        for bot in &mut self.bots {
            bot.update();
        }
        std::thread::sleep(Duration::from_micros(200));
    }

    pub fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step();
        }
    }

    pub fn run_until(&mut self, max: usize, mut done: impl FnMut(&mut Self) -> bool) {
        for _ in 0..max {
            self.step();
            if done(self) {
                return;
            }
        }
        panic!("condition not reached in {max} steps");
    }

    pub fn players_on_server(&mut self) -> usize {
        let world = self.server.world_mut();
        world.query::<&Player>().iter(world).count()
    }

    pub fn players_seen(&mut self, bot: usize) -> usize {
        let world = self.bots[bot].world_mut();
        world.query::<&Player>().iter(world).count()
    }

    /// A bot's player name, the same on the server and on every bot (other clients see only
    /// an alias of its client id).
    pub fn name(&self, bot: usize) -> String {
        bot_name(bot)
    }

    /// The server-side player entity of a bot.
    pub fn server_player(&mut self, bot: usize) -> Entity {
        let name = self.name(bot);
        let world = self.server.world_mut();
        world
            .query::<(Entity, &Player)>()
            .iter(world)
            .find(|(_, player)| player.name == name)
            .map(|(entity, _)| entity)
            .unwrap()
    }

    /// Predictions of a bot's own player compared with where the server had it at the same tick,
    /// and how many were within a centimetre.
    pub fn predictions_checked(&self) -> (usize, usize) {
        let history = &self.server.world().resource::<History>().0;
        let mut compared = 0;
        let mut right = 0;
        for (index, bot) in self.bots.iter().enumerate() {
            let id = self.name(index);
            for (tick, predicted) in &bot.world().resource::<Predictions>().0 {
                let Some(truth) = history.get(tick).and_then(|positions| positions.get(&id)) else {
                    continue;
                };
                compared += 1;
                right += usize::from(predicted.distance(*truth) < 0.01);
            }
        }
        (compared, right)
    }

    /// What each bot drew of the others against the server's positions at the very snapshots it
    /// blended: the errors of the interpolated samples, and the samples drawn past the newest
    /// snapshot (counted apart).
    pub fn drawings_checked(&self) -> (Vec<f32>, usize) {
        let history = &self.server.world().resource::<History>().0;
        let mut errors = Vec::new();
        let mut not_interpolated = 0;
        for bot in &self.bots {
            let snap = bot
                .world()
                .resource::<InterpolationSettings>()
                .snap_distance;
            let (bot_errors, past_newest) =
                drawing_errors(&bot.world().resource::<Drawn>().0, history, snap);
            errors.extend(bot_errors);
            not_interpolated += past_newest;
        }
        (errors, not_interpolated)
    }

    pub fn input(&mut self, bot: usize, input: ArenaInput) {
        self.bots[bot]
            .world_mut()
            .resource_mut::<LocalInput<ArenaInput>>()
            .0 = input;
    }

    pub fn scores(app: &mut App) -> BTreeMap<String, Score> {
        let world = app.world_mut();
        world
            .query::<(&Player, &Score)>()
            .iter(world)
            .map(|(player, score)| (player.name.clone(), *score))
            .collect()
    }
}

/// Starts the server's transport on a free loopback port.
fn listen_on_loopback(server: &mut App) -> String {
    let settings = headless::server_settings(
        "127.0.0.1:0".into(),
        Vec::new(),
        16,
        transport::ServerSecurity::Unsecure,
    );
    transport::start_server(server.world_mut(), &settings)
        .unwrap()
        .local
        .to_string()
}

/// The name bot `bot` connects with.
fn bot_name(bot: usize) -> String {
    format!("bot-{}", bot + 1)
}
