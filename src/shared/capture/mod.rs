//! Captures: every renet message an App's networking sends or receives, in a pcapng file that
//! tshark and Wireshark open, each packet with its content decoded in its comment.
//!
//! Insert a [`NetCapture`] to start one; remove it, or call [`NetCapture::stop`], to end it.
//! Messages are recorded as the crate hands them to renet and as it reads them from renet:
//! after netcode decrypted them, before renet splits or after it joined them, so a capture shows
//! the crate's frames, not UDP datagrams. With a [`SimulatedLink`](crate::client::SimulatedLink)
//! a client records what it sends before the link delays or drops it, and what it receives once
//! the link delivered it.
//!
//! Each packet is a [`CAPTURE_HEADER_BYTES`]-byte header, then the message as it went:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0 | header version (1) |
//! | 1 | direction: 0 sent, 1 received (by the App that captured) |
//! | 2 | side that captured: 0 server, 1 client |
//! | 3 | renet channel: 0 reliable, 1 unreliable |
//! | 4..12 | client id, little-endian: on a server the peer's; on a client its own once welcomed, 0 before |
//!
//! The link type is `LINKTYPE_USER0` ([`CAPTURE_LINK_TYPE`]), one of the sixteen the pcap
//! registry keeps for private use: no standard link type describes renet messages, and tools
//! read USER0 as opaque bytes until told how. `tools/wireshark/bevy_netsync.lua` tells them.
//!
//! The comment of each packet reads, for example,
//! `sent client=3 channel=1 STATE seq=17 tick=340 part=0 last=true watermark=338 entities=3
//! spawns=3 despawns=0 resources=0 components=Health:3,Transform:3 bytes=85`: direction, client
//! id and channel, the frame's kind, then what it says.

mod describe;
mod pcapng;

use core::time::Duration;
use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use bevy::prelude::*;

pub(crate) use describe::StateSummary;
use describe::{CaptureNames, describe};

use super::{
    input::InputRegistry,
    messages::MessageRegistry,
    registry::{ReplicationRegistry, ResourceRegistry},
    wire::{ServerFrame, server_kind},
};

/// The pcapng link type of captures: `LINKTYPE_USER0`.
pub const CAPTURE_LINK_TYPE: u16 = 147;

/// Bytes of the header before each captured message (see the [module](self) docs).
pub const CAPTURE_HEADER_BYTES: usize = 12;

/// [`CaptureLimits::max_bytes`] by default: 100 MiB.
pub const DEFAULT_CAPTURE_BYTES: u64 = 100 * 1024 * 1024;

/// The layout of the header, in its first byte.
const HEADER_VERSION: u8 = 1;

/// How often a capture's buffer is written out (also when the App exits), so a file cut short
/// by a killed process lacks about a second at most.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// What the section header names as the writer.
const APPLICATION: &str = concat!("bevy_netsync ", env!("CARGO_PKG_VERSION"));

/// How much a [`NetCapture`] records before it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureLimits {
    /// Most bytes the file grows to; `None` for no limit. The capture stops before a packet
    /// that would pass it, unless `ring`.
    pub max_bytes: Option<u64>,
    /// How long the capture runs from its creation; `None` for as long as it is there.
    pub max_duration: Option<Duration>,
    /// Keep the newest traffic instead of stopping at `max_bytes`: once the file reaches half
    /// of it, it is renamed with `.old` before its extension (`server.pcapng` becomes
    /// `server.old.pcapng`, replacing an earlier one) and a new file starts. The two files
    /// then hold between half of `max_bytes` and all of it, the newest last; `mergecap -w
    /// all.pcapng server.old.pcapng server.pcapng` joins them.
    pub ring: bool,
}

impl Default for CaptureLimits {
    /// [`DEFAULT_CAPTURE_BYTES`], no time limit, no ring.
    fn default() -> Self {
        Self {
            max_bytes: Some(DEFAULT_CAPTURE_BYTES),
            max_duration: None,
            ring: false,
        }
    }
}

/// Which end of a connection recorded a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server = 0,
    Client = 1,
}

/// Whether the recording end sent or received a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Sent = 0,
    Received = 1,
}

/// A capture in progress: insert one to record every renet message this App's networking sends
/// and receives to a pcapng file (see the [module](self) docs for what goes in it).
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_netsync::shared::capture::{CaptureLimits, NetCapture};
/// # fn start(app: &mut App) -> std::io::Result<()> {
/// app.insert_resource(NetCapture::create("server.pcapng", CaptureLimits::default())?);
/// # Ok(())
/// # }
/// ```
///
/// Writing goes through a buffer, flushed every second, when the App exits and when the
/// capture is dropped. A failed write is logged once and ends the capture; nothing panics, and
/// what is sent never depends on whether a capture runs.
#[derive(Resource)]
pub struct NetCapture {
    path: PathBuf,
    limits: CaptureLimits,
    /// `None` once the capture ended.
    file: Option<BufWriter<File>>,
    /// Bytes in the current file.
    file_bytes: u64,
    /// Bytes written to every file of this capture.
    bytes_written: u64,
    packets: u64,
    started: Instant,
    last_flush: Instant,
    names: CaptureNames,
    /// On a client, the id its server welcomed it with (0 before).
    own_id: u64,
    /// The block being written, its allocation reused.
    block: Vec<u8>,
}

impl NetCapture {
    /// Creates (or truncates) the file at `path` and starts recording into it.
    pub fn create(path: impl Into<PathBuf>, limits: CaptureLimits) -> io::Result<Self> {
        let path = path.into();
        let (file, header) = open(&path)?;
        info!("capturing network messages to {}", path.display());
        let now = Instant::now();
        Ok(Self {
            path,
            limits,
            file: Some(file),
            file_bytes: header,
            bytes_written: header,
            packets: 0,
            started: now,
            last_flush: now,
            names: CaptureNames::default(),
            own_id: 0,
            block: Vec::new(),
        })
    }

    /// Whether packets are still being recorded (not stopped, failed or past a limit).
    pub fn is_active(&self) -> bool {
        self.file.is_some()
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Packets recorded so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Bytes written so far, to every file of the capture.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Ends the capture: writes out what is buffered and closes the file.
    pub fn stop(&mut self) {
        self.finish("stopped");
    }

    /// Records a message the server sent to `client_id`; `summary` lists a state frame's entries.
    pub(crate) fn server_sent(
        &mut self,
        client_id: u64,
        channel: u8,
        frame: &[u8],
        summary: Option<&StateSummary>,
    ) {
        self.record(
            Side::Server,
            Direction::Sent,
            client_id,
            channel,
            frame,
            summary,
        );
    }

    /// Records a message the server received from `client_id`.
    pub(crate) fn server_received(&mut self, client_id: u64, channel: u8, frame: &[u8]) {
        self.record(
            Side::Server,
            Direction::Received,
            client_id,
            channel,
            frame,
            None,
        );
    }

    /// Records a message this client sent.
    pub(crate) fn client_sent(&mut self, channel: u8, frame: &[u8]) {
        self.record(Side::Client, Direction::Sent, 0, channel, frame, None);
    }

    /// Records a message this client received; `summary` lists a state frame's entries.
    pub(crate) fn client_received(
        &mut self,
        channel: u8,
        frame: &[u8],
        summary: Option<&StateSummary>,
    ) {
        self.record(
            Side::Client,
            Direction::Received,
            0,
            channel,
            frame,
            summary,
        );
    }

    /// Forgets this client's id: its connection ended.
    pub(crate) fn client_left(&mut self) {
        self.own_id = 0;
    }

    fn record(
        &mut self,
        side: Side,
        direction: Direction,
        client_id: u64,
        channel: u8,
        frame: &[u8],
        summary: Option<&StateSummary>,
    ) {
        if self.file.is_none() {
            return;
        }
        if self
            .limits
            .max_duration
            .is_some_and(|limit| self.started.elapsed() >= limit)
        {
            self.finish("reached its time limit");
            return;
        }
        let client_id = match side {
            Side::Server => client_id,
            Side::Client => {
                if direction == Direction::Received {
                    self.note_welcome(frame);
                }
                self.own_id
            }
        };
        let from_server = (side == Side::Server) == (direction == Direction::Sent);
        let word = match direction {
            Direction::Sent => "sent",
            Direction::Received => "received",
        };
        let comment = format!(
            "{word} client={client_id} channel={channel} {}",
            describe(&self.names, from_server, frame, summary)
        );
        let mut header = [0; CAPTURE_HEADER_BYTES];
        header[..4].copy_from_slice(&[HEADER_VERSION, direction as u8, side as u8, channel]);
        header[4..].copy_from_slice(&client_id.to_le_bytes());
        self.block.clear();
        let parts = [header.as_slice(), frame];
        pcapng::enhanced_packet(&mut self.block, micros_now(), &parts, &comment);
        let size = self.block.len() as u64;
        if let Some(max) = self.limits.max_bytes {
            let limit = if self.limits.ring { max / 2 } else { max };
            if self.file_bytes + size > limit {
                if !self.limits.ring {
                    self.finish("reached its size limit");
                    return;
                }
                // A packet larger than half the limit still goes, alone in its file.
                if let Err(error) = self.rotate() {
                    self.fail(&error);
                    return;
                }
            }
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        match file.write_all(&self.block) {
            Ok(()) => {
                self.file_bytes += size;
                self.bytes_written += size;
                self.packets += 1;
            }
            Err(error) => self.fail(&error),
        }
    }

    /// Keeps the id a welcome received by this client names.
    fn note_welcome(&mut self, frame: &[u8]) {
        if frame.first() == Some(&server_kind::WELCOME)
            && let Ok(ServerFrame::Welcome { client_id, .. }) = ServerFrame::decode(frame)
        {
            self.own_id = client_id;
        }
    }

    /// Moves the current file aside (see [`CaptureLimits::ring`]) and starts a new one.
    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        std::fs::rename(&self.path, older_path(&self.path))?;
        let (file, header) = open(&self.path)?;
        self.file = Some(file);
        self.file_bytes = header;
        self.bytes_written += header;
        Ok(())
    }

    /// Writes out what is buffered.
    fn flush(&mut self) {
        self.last_flush = Instant::now();
        let flushed = self.file.as_mut().map_or(Ok(()), BufWriter::flush);
        if let Err(error) = flushed {
            self.fail(&error);
        }
    }

    /// Ends the capture, saying why.
    fn finish(&mut self, why: &str) {
        let Some(mut file) = self.file.take() else {
            return;
        };
        if let Err(error) = file.flush() {
            error!("capture {} failed: {error}", self.path.display());
            return;
        }
        info!(
            "capture {} {why}: {} packets, {} bytes",
            self.path.display(),
            self.packets,
            self.bytes_written
        );
    }

    /// Ends the capture after an error, logging it (once: nothing is written after it).
    fn fail(&mut self, error: &io::Error) {
        error!(
            "capture {} failed, no more packets are recorded: {error}",
            self.path.display()
        );
        self.file = None;
    }
}

/// Creates the file at `path` and writes its header; returns it and the header's size.
fn open(path: &Path) -> io::Result<(BufWriter<File>, u64)> {
    let mut file = BufWriter::new(File::create(path)?);
    let mut header = Vec::new();
    pcapng::file_header(&mut header, CAPTURE_LINK_TYPE, APPLICATION);
    file.write_all(&header)?;
    Ok((file, header.len() as u64))
}

/// Where a ring capture keeps its older file: `.old` before the extension.
fn older_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(extension) => format!("{stem}.old.{}", extension.to_string_lossy()),
        None => format!("{stem}.old"),
    };
    path.with_file_name(name)
}

/// Microseconds since 1970.
fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

/// Copies the registered type names into a capture that has none yet, for its comments (in
/// `First`, while a [`NetCapture`] exists).
pub(crate) fn load_capture_names(
    mut capture: ResMut<NetCapture>,
    components: Res<ReplicationRegistry>,
    resources: Res<ResourceRegistry>,
    messages: Res<MessageRegistry>,
    inputs: Option<Res<InputRegistry>>,
) {
    if capture.names.loaded {
        return;
    }
    capture.names = CaptureNames::new(&components, &resources, &messages, inputs.as_deref());
}

/// Writes out a capture's buffer every [`FLUSH_INTERVAL`] and when the App exits (in `Last`,
/// while a [`NetCapture`] exists).
pub(crate) fn flush_capture(mut capture: ResMut<NetCapture>, exit: Option<Res<Messages<AppExit>>>) {
    let exiting = exit.is_some_and(|exit| !exit.is_empty());
    if exiting || capture.last_flush.elapsed() >= FLUSH_INTERVAL {
        capture.flush();
    }
}

#[cfg(test)]
mod tests;
