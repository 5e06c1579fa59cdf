//! The overlay's graphs: one per figure of the diagnostics store, a bar per sample of the last
//! 15 seconds and, for a second figure on the same scale, a mark per sample. A graph shows once
//! its figure has values, so a client sees its own figures and a server or host the server's.

use bevy::{
    diagnostic::{DiagnosticPath, DiagnosticsStore},
    platform::time::Instant,
    prelude::*,
};

use super::{
    LABEL_COLOR, NetsyncOverlay,
    history::{History, SAMPLE_PERIOD, SAMPLES, height_percent, sample},
    short, text,
};

/// Width of a graph's plot, pixels.
const PLOT_WIDTH: f32 = 240.0;
/// Height of a graph's plot, pixels.
const PLOT_HEIGHT: f32 = 34.0;
/// Horizontal room of one sample, pixels.
const BAR_STEP: f32 = PLOT_WIDTH / SAMPLES as f32;
/// Height of a mark, pixels.
const MARK_HEIGHT: f32 = 2.0;
/// Size of a graph's label.
const LABEL_SIZE: f32 = 12.0;
const PLOT_BACKGROUND: Color = Color::srgba(1.0, 1.0, 1.0, 0.06);
const MARK_COLOR: Color = Color::srgb(1.0, 0.85, 0.35);

/// What one graph shows.
#[derive(Clone, Debug)]
pub(super) struct GraphSpec {
    title: &'static str,
    unit: &'static str,
    /// The figure drawn as bars.
    bars: DiagnosticPath,
    /// A second figure, drawn as marks on the same scale.
    marks: Option<DiagnosticPath>,
    /// Shown values are the diagnostic's times this (bytes to kilobytes).
    factor: f64,
    /// The scale's top never goes below this (in shown units), so noise stays small.
    floor: f64,
    color: Color,
}

impl GraphSpec {
    fn new(title: &'static str, unit: &'static str, bars: DiagnosticPath, floor: f64) -> Self {
        Self {
            title,
            unit,
            bars,
            marks: None,
            factor: 1.0,
            floor,
            color: Color::srgb(0.35, 0.7, 1.0),
        }
    }

    fn marks(self, marks: DiagnosticPath) -> Self {
        Self {
            marks: Some(marks),
            ..self
        }
    }

    fn kilo(self) -> Self {
        Self {
            factor: 0.001,
            ..self
        }
    }

    fn color(self, color: Color) -> Self {
        Self { color, ..self }
    }
}

/// Every graph this build can show: the client's figures, then the server's.
pub(super) fn specs() -> Vec<GraphSpec> {
    [client_specs(), server_specs()].concat()
}

#[cfg(feature = "client")]
fn client_specs() -> Vec<GraphSpec> {
    use crate::client::NetsyncDiagnostics as D;
    let warm = Color::srgb(1.0, 0.55, 0.35);
    vec![
        GraphSpec::new("rtt / jitter", "ms", D::RTT_MS, 50.0).marks(D::JITTER_MS),
        GraphSpec::new("loss", "%", D::PACKET_LOSS, 5.0).color(warm),
        GraphSpec::new("in / out", "kB/s", D::BYTES_IN, 10.0)
            .marks(D::BYTES_OUT)
            .kilo(),
        GraphSpec::new(
            "interpolation delay",
            "ms",
            D::INTERPOLATION_DELAY_MS,
            100.0,
        ),
        GraphSpec::new("input lead", "ticks", D::INPUT_LEAD_TICKS, 5.0),
        GraphSpec::new("rollbacks", "/s", D::ROLLBACKS_PER_SECOND, 5.0).color(warm),
        GraphSpec::new("last correction", "cm", D::LAST_CORRECTION_CM, 10.0).color(warm),
        GraphSpec::new("entities held", "", D::ENTITIES_HELD, 10.0),
    ]
}

#[cfg(not(feature = "client"))]
fn client_specs() -> Vec<GraphSpec> {
    Vec::new()
}

#[cfg(feature = "server")]
fn server_specs() -> Vec<GraphSpec> {
    use crate::server::NetsyncServerDiagnostics as S;
    let green = Color::srgb(0.4, 0.85, 0.5);
    vec![
        GraphSpec::new("tick time p50 / p99", "ms", S::TICK_TIME_P50_MS, 2.0)
            .marks(S::TICK_TIME_P99_MS)
            .color(green),
        GraphSpec::new("clients", "", S::CONNECTED_CLIENTS, 4.0).color(green),
        GraphSpec::new("out per client", "kB/s", S::BYTES_OUT_PER_CLIENT, 10.0)
            .kilo()
            .color(green),
        GraphSpec::new("budget use, busiest", "%", S::BUDGET_USE_PERCENT, 100.0).color(green),
        GraphSpec::new("in view per client", "", S::ENTITIES_IN_VIEW, 10.0).color(green),
        GraphSpec::new("junk dropped", "/s", S::JUNK_DROPPED_PER_SECOND, 10.0)
            .color(Color::srgb(1.0, 0.55, 0.35)),
    ]
}

#[cfg(not(feature = "server"))]
fn server_specs() -> Vec<GraphSpec> {
    Vec::new()
}

/// A graph: what it shows, its samples, and the entities it is drawn with.
#[derive(Component)]
pub(super) struct Graph {
    spec: GraphSpec,
    history: History,
    label: Entity,
    bars: Vec<Entity>,
    marks: Vec<Entity>,
}

/// A bar or a mark of a graph.
#[derive(Component)]
pub(super) struct GraphPart;

type Parts<'w, 's> = Query<'w, 's, &'static mut Node, (With<GraphPart>, Without<Graph>)>;

/// Spawns a graph (hidden until its figure has values) under `parent`.
pub(super) fn spawn_graph(commands: &mut Commands, parent: Entity, spec: GraphSpec) {
    let graph = commands
        .spawn((
            Node {
                display: Display::None,
                flex_direction: FlexDirection::Column,
                row_gap: Val::Px(2.0),
                ..default()
            },
            ChildOf(parent),
        ))
        .id();
    let label = commands
        .spawn((text(spec.title, LABEL_SIZE, LABEL_COLOR), ChildOf(graph)))
        .id();
    let plot = commands
        .spawn((
            Node {
                width: Val::Px(PLOT_WIDTH),
                height: Val::Px(PLOT_HEIGHT),
                overflow: Overflow::clip(),
                ..default()
            },
            BackgroundColor(PLOT_BACKGROUND),
            ChildOf(graph),
        ))
        .id();
    let mut part = |index: usize, height: Val, color: Color| {
        commands
            .spawn((
                GraphPart,
                Node {
                    position_type: PositionType::Absolute,
                    left: Val::Px(index as f32 * BAR_STEP),
                    bottom: Val::Px(0.0),
                    width: Val::Px((BAR_STEP - 1.0).max(1.0)),
                    height,
                    ..default()
                },
                BackgroundColor(color),
                ChildOf(plot),
            ))
            .id()
    };
    let bars = (0..SAMPLES)
        .map(|index| part(index, Val::Percent(0.0), spec.color))
        .collect();
    let marks = if spec.marks.is_some() {
        (0..SAMPLES)
            .map(|index| part(index, Val::Px(MARK_HEIGHT), MARK_COLOR))
            .collect()
    } else {
        Vec::new()
    };
    commands.entity(graph).insert(Graph {
        spec,
        history: History::default(),
        label,
        bars,
        marks,
    });
}

/// Samples every graph's figures each [`SAMPLE_PERIOD`] (shown or not, so the graphs have
/// their history when the overlay opens) and, while the overlay shows, draws them.
pub(super) fn update_graphs(
    store: Option<Res<DiagnosticsStore>>,
    overlay: Res<NetsyncOverlay>,
    mut last_sample: Local<Option<Instant>>,
    mut graphs: Query<(&mut Graph, &mut Node)>,
    mut parts: Parts,
    mut labels: Query<&mut Text>,
) {
    let Some(store) = store else {
        return;
    };
    let now = Instant::now();
    let Some(since) = *last_sample else {
        *last_sample = Some(now);
        return;
    };
    if now.saturating_duration_since(since) < SAMPLE_PERIOD {
        return;
    }
    *last_sample = Some(now);
    for (mut graph, mut node) in &mut graphs {
        let spec = &graph.spec;
        let shown = |path: &DiagnosticPath| {
            sample(store.get(path), since, now).map(|value| value * spec.factor)
        };
        let taken = [shown(&spec.bars), spec.marks.as_ref().and_then(shown)];
        graph.history.push(taken);
        if !overlay.visible {
            continue;
        }
        let display = if graph.history.has_values() {
            Display::Flex
        } else {
            Display::None
        };
        if node.display != display {
            node.display = display;
        }
        draw(&graph, &mut parts, &mut labels);
    }
}

/// Sets the bars' heights, the marks' places and the label from the graph's history.
fn draw(graph: &Graph, parts: &mut Parts, labels: &mut Query<&mut Text>) {
    let top = graph.history.top(graph.spec.floor);
    for (index, [bar, mark]) in graph.history.slots().enumerate() {
        if let Some(&entity) = graph.bars.get(index)
            && let Ok(mut node) = parts.get_mut(entity)
        {
            let height = Val::Percent(height_percent(bar, top));
            if node.height != height {
                node.height = height;
            }
        }
        if let Some(&entity) = graph.marks.get(index)
            && let Ok(mut node) = parts.get_mut(entity)
        {
            let display = if mark.is_some() {
                Display::Flex
            } else {
                Display::None
            };
            let bottom = Val::Percent(height_percent(mark, top));
            if node.display != display {
                node.display = display;
            }
            if node.bottom != bottom {
                node.bottom = bottom;
            }
        }
    }
    if let Ok(mut label) = labels.get_mut(graph.label) {
        let line = label_line(&graph.spec, graph.history.newest(), top);
        if label.0 != line {
            label.0 = line;
        }
    }
}

/// `title  now unit   top T`, with both figures' newest values when there are two.
fn label_line(spec: &GraphSpec, [bars, marks]: [Option<f64>; 2], top: f64) -> String {
    let value = |value: Option<f64>| value.map_or_else(|| "-".to_string(), short);
    let now = match spec.marks {
        Some(_) => format!("{} / {}", value(bars), value(marks)),
        None => value(bars),
    };
    format!("{}  {now} {}   top {}", spec.title, spec.unit, short(top))
}
