//! A captured frame in words, for its packet comment: the kind, then `key=value` words (tick,
//! part, counts, sizes, type names as registered, shortened to the type's own name).
//!
//! A state frame's entries are written by each component's codec, without lengths, so only the
//! side that packs or reads the frame can list them: it hands a [`StateSummary`].

use core::fmt::Write as _;

use bevy::utils::prelude::ShortName;

use crate::shared::{
    error::DecodeError,
    input::InputRegistry,
    messages::MessageRegistry,
    registry::{ReplicationRegistry, ResourceRegistry},
    wire::{ClientFrame, ServerFrame, StateHeader},
};

/// What a state frame held, from the side that packed or read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StateSummary {
    /// Whether its body was read (a client skips frames older than what it holds).
    pub(crate) read: bool,
    /// Entity entries, spawns included.
    pub(crate) entities: u32,
    /// Entries that spawn their entity.
    pub(crate) spawns: u32,
    /// Despawns (and freezes).
    pub(crate) despawns: u32,
    /// Resource indices, one per resource value or removal.
    pub(crate) resources: Vec<u32>,
    /// Component indices, one per component value or removal of every entry.
    pub(crate) components: Vec<u32>,
}

/// The registered names, by wire index, copied from the registries once.
#[derive(Default)]
pub(crate) struct CaptureNames {
    /// Whether they were copied.
    pub(super) loaded: bool,
    components: Vec<&'static str>,
    resources: Vec<&'static str>,
    client_messages: Vec<&'static str>,
    server_messages: Vec<&'static str>,
    inputs: Vec<&'static str>,
}

impl CaptureNames {
    /// The names the registries hold.
    pub(super) fn new(
        components: &ReplicationRegistry,
        resources: &ResourceRegistry,
        messages: &MessageRegistry,
        inputs: Option<&InputRegistry>,
    ) -> Self {
        Self {
            loaded: true,
            components: components.names().collect(),
            resources: resources.resources.iter().map(|r| r.name).collect(),
            client_messages: messages.from_clients.iter().map(|m| m.name).collect(),
            server_messages: messages.from_server.iter().map(|m| m.name).collect(),
            inputs: inputs
                .map(|inputs| inputs.inputs.iter().map(|(name, _)| *name).collect())
                .unwrap_or_default(),
        }
    }
}

/// The type name at `index`, or `#index` when there is none.
fn name(names: &[&'static str], index: u32) -> String {
    names
        .get(index as usize)
        .map_or_else(|| format!("#{index}"), |&name| ShortName(name).to_string())
}

/// Describes `frame`, written by the server when `from_server`, else by a client; a state
/// frame's entries come from `summary`.
pub(super) fn describe(
    names: &CaptureNames,
    from_server: bool,
    frame: &[u8],
    summary: Option<&StateSummary>,
) -> String {
    let described = if from_server {
        server_frame(names, frame, summary)
    } else {
        client_frame(names, frame)
    };
    let text = described.unwrap_or_else(|error| {
        let kind = frame
            .first()
            .map_or_else(|| "none".to_string(), u8::to_string);
        format!("UNDECODABLE kind={kind} error=\"{error}\"")
    });
    format!("{text} bytes={}", frame.len())
}

fn server_frame(
    names: &CaptureNames,
    frame: &[u8],
    summary: Option<&StateSummary>,
) -> Result<String, DecodeError> {
    Ok(match ServerFrame::decode(frame)? {
        ServerFrame::Welcome {
            client_id, tick, ..
        } => format!("WELCOME tick={} id={client_id}", tick.0),
        ServerFrame::Disconnect(reason) => format!("DISCONNECT reason=\"{reason}\""),
        ServerFrame::State { header, .. } => state(names, &header, summary),
        ServerFrame::Slice {
            seq,
            blob,
            total_len,
            index,
            payload,
        } => format!(
            "SLICE seq={seq} value={blob} slice={index} value_bytes={total_len} payload={}",
            payload.len()
        ),
        ServerFrame::Message {
            index,
            tick,
            payload,
        } => format!(
            "MESSAGE type={} tick={} payload={} data={}",
            name(&names.server_messages, index),
            tick.0,
            payload.len(),
            hex_start(payload)
        ),
        ServerFrame::InputTiming { min_lead, late } => {
            format!("INPUT_TIMING lead={min_lead} late={late}")
        }
    })
}

fn state(names: &CaptureNames, header: &StateHeader, summary: Option<&StateSummary>) -> String {
    let mut text = format!(
        "STATE seq={} tick={} part={}",
        header.seq, header.tick.0, header.part
    );
    match header.last {
        Some(last) => {
            let _ = write!(text, " last=true watermark={}", last.watermark.0);
            if let Some(input) = last.input_ack {
                let _ = write!(text, " input_ack={}", input.0);
            }
            if let Some(owned) = last.owned_ack {
                let _ = write!(text, " owned_ack={}", owned.newest.0);
            }
        }
        None => text.push_str(" last=false"),
    }
    match summary {
        Some(summary) if summary.read => {
            let _ = write!(
                text,
                " entities={} spawns={} despawns={} resources={}",
                summary.entities,
                summary.spawns,
                summary.despawns,
                summary.resources.len()
            );
            if !summary.resources.is_empty() {
                let list: Vec<String> = summary
                    .resources
                    .iter()
                    .map(|&index| name(&names.resources, index))
                    .collect();
                let _ = write!(text, " resource_names={}", list.join(","));
            }
            let _ = write!(
                text,
                " components={}",
                counted(&names.components, &summary.components)
            );
        }
        Some(_) => text.push_str(" body=stale"),
        None => {}
    }
    text
}

/// `Name:count` per index in `indices`, by index, comma-separated; `-` for none.
fn counted(names: &[&'static str], indices: &[u32]) -> String {
    if indices.is_empty() {
        return "-".to_string();
    }
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted
        .chunk_by(|a, b| a == b)
        .map(|run| format!("{}:{}", name(names, run[0]), run.len()))
        .collect::<Vec<_>>()
        .join(",")
}

fn client_frame(names: &CaptureNames, frame: &[u8]) -> Result<String, DecodeError> {
    Ok(match ClientFrame::decode(frame)? {
        ClientFrame::Hello { protocol } => format!("HELLO protocol={protocol:016x}"),
        ClientFrame::Update {
            acks,
            inputs,
            extras,
        } => {
            let acked: usize = acks.iter().map(|range| usize::from(range.len) + 1).sum();
            let blocks: Vec<String> = inputs
                .iter()
                .map(|block| {
                    let input = name(&names.inputs, block.index);
                    format!("{input}:{}@{}", block.len(), block.newest)
                })
                .collect();
            let blocks = if blocks.is_empty() {
                "-".to_string()
            } else {
                blocks.join(",")
            };
            format!(
                "UPDATE acked={acked} ack_ranges={} inputs={blocks} seen={} owned_bytes={}",
                acks.len(),
                extras.seen.len(),
                extras.owned.len()
            )
        }
        ClientFrame::Message { index, payload } => format!(
            "MESSAGE type={} payload={} data={}",
            name(&names.client_messages, index),
            payload.len(),
            hex_start(payload)
        ),
        ClientFrame::Goodbye => "GOODBYE".to_string(),
        ClientFrame::Authority(requests) => format!("AUTHORITY requests={requests:?}"),
    })
}

/// Bytes a comment shows of a message's payload (its type is the game's, so its content is
/// shown as bytes: the encoded value).
const SHOWN_PAYLOAD_BYTES: usize = 64;

/// The first [`SHOWN_PAYLOAD_BYTES`] of `payload` in hex, `…` after them if there are more.
fn hex_start(payload: &[u8]) -> String {
    let shown = &payload[..payload.len().min(SHOWN_PAYLOAD_BYTES)];
    let mut text: String = shown.iter().map(|byte| format!("{byte:02x}")).collect();
    if payload.len() > shown.len() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::{
        tick::NetTick,
        wire::{
            BitWriter, LastPart, client_kind, encode_hello, encode_server_message, encode_welcome,
            write_state_header,
        },
    };

    fn names() -> CaptureNames {
        CaptureNames {
            loaded: true,
            components: vec!["game::Health", "bevy_transform::components::Transform"],
            resources: vec!["game::Score"],
            client_messages: vec!["game::Chat"],
            server_messages: vec!["game::ChatLine"],
            inputs: vec!["game::Pad"],
        }
    }

    #[test]
    fn control_frames_and_messages_name_their_kind_and_type() {
        let names = names();
        let welcome = encode_welcome(5, 9, NetTick(120));
        assert_eq!(
            describe(&names, true, &welcome, None),
            format!("WELCOME tick=120 id=5 bytes={}", welcome.len())
        );
        let message = encode_server_message(0, NetTick(7), &[1, 2, 3]);
        assert_eq!(
            describe(&names, true, &message, None),
            format!(
                "MESSAGE type=ChatLine tick=7 payload=3 data=010203 bytes={}",
                message.len()
            )
        );
        assert_eq!(
            describe(&names, false, &encode_hello(0xab), None),
            "HELLO protocol=00000000000000ab bytes=9"
        );
        assert_eq!(
            describe(&names, false, &[client_kind::GOODBYE], None),
            "GOODBYE bytes=1"
        );
        assert_eq!(
            describe(&names, false, &[client_kind::MESSAGE, 3, 0], None),
            "MESSAGE type=#3 payload=1 data=00 bytes=3"
        );
        assert!(describe(&names, false, &[200], None).starts_with("UNDECODABLE kind=200 "));
    }

    #[test]
    fn a_state_frame_lists_what_its_summary_counted() {
        let mut frame = BitWriter::new();
        write_state_header(
            &mut frame,
            &StateHeader {
                seq: 3,
                tick: NetTick(340),
                part: 0,
                last: Some(LastPart {
                    watermark: NetTick(338),
                    input_ack: None,
                    owned_ack: None,
                }),
            },
        );
        let frame = frame.into_bytes();
        let summary = StateSummary {
            read: true,
            entities: 2,
            spawns: 1,
            despawns: 0,
            resources: vec![0],
            components: vec![1, 0, 1],
        };
        let text = describe(&names(), true, &frame, Some(&summary));
        assert_eq!(
            text,
            format!(
                "STATE seq=3 tick=340 part=0 last=true watermark=338 entities=2 spawns=1 \
                 despawns=0 resources=1 resource_names=Score components=Health:1,Transform:2 \
                 bytes={}",
                frame.len()
            )
        );
        let stale = StateSummary::default();
        assert!(describe(&names(), true, &frame, Some(&stale)).contains(" body=stale "));
    }
}
