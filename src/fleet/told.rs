//! [`Told`]: what the game told the SDK server, kept by the SDK worker so that a new
//! connection (the SDK server restarted, or was not up yet) hears it again.

use std::collections::BTreeSet;

use super::link::Request;

/// The lasting part of the requests so far (health pings do not last).
#[derive(Debug, Default)]
pub(crate) struct Told {
    ready: bool,
    capacity: Option<i64>,
    players: BTreeSet<String>,
    shutdown: bool,
}

impl Told {
    /// Notes a request of the game.
    pub(crate) fn note(&mut self, request: &Request) {
        match request {
            Request::Health => {}
            Request::Ready => self.ready = true,
            Request::SetPlayerCapacity(count) => self.capacity = Some(*count),
            Request::PlayerConnect(id) => {
                self.players.insert(id.clone());
            }
            Request::PlayerDisconnect(id) => {
                self.players.remove(id);
            }
            Request::Shutdown => self.shutdown = true,
        }
    }

    /// What a new connection must hear, given the game server's record as it reports it:
    /// the capacity, the players it lacks and those it holds that left, Ready unless the
    /// server is past it (Ready on an allocated server would put it back in the pool), and
    /// Shutdown unless done.
    pub(crate) fn replay(&self, record: &agones::GameServer) -> Vec<Request> {
        let status = record.status.clone().unwrap_or_default();
        let listed: BTreeSet<String> = status
            .players
            .map(|players| players.ids.into_iter().collect())
            .unwrap_or_default();
        let mut requests = Vec::new();
        if let Some(count) = self.capacity {
            requests.push(Request::SetPlayerCapacity(count));
        }
        requests.extend(
            self.players
                .difference(&listed)
                .map(|id| Request::PlayerConnect(id.clone())),
        );
        requests.extend(
            listed
                .difference(&self.players)
                .map(|id| Request::PlayerDisconnect(id.clone())),
        );
        let past_ready = matches!(
            status.state.as_str(),
            "Ready" | "Reserved" | "Allocated" | "Shutdown"
        );
        if self.ready && !past_ready {
            requests.push(Request::Ready);
        }
        if self.shutdown && status.state != "Shutdown" {
            requests.push(Request::Shutdown);
        }
        requests
    }
}

#[cfg(test)]
mod tests {
    use agones::{GameServer, PlayerStatus, Status};

    use super::*;

    fn record(state: &str, players: &[&str]) -> GameServer {
        GameServer {
            status: Some(Status {
                state: state.into(),
                players: Some(PlayerStatus {
                    ids: players.iter().map(|id| id.to_string()).collect(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_fresh_sdk_server_hears_everything_again() {
        let mut told = Told::default();
        for request in [
            Request::SetPlayerCapacity(8),
            Request::Ready,
            Request::PlayerConnect("1".into()),
            Request::PlayerConnect("2".into()),
            Request::PlayerDisconnect("1".into()),
            Request::Health,
        ] {
            told.note(&request);
        }
        assert_eq!(
            told.replay(&record("Scheduled", &[])),
            [
                Request::SetPlayerCapacity(8),
                Request::PlayerConnect("2".into()),
                Request::Ready
            ]
        );
    }

    #[test]
    fn an_allocated_server_is_not_made_ready_again() {
        let mut told = Told::default();
        told.note(&Request::Ready);
        told.note(&Request::PlayerConnect("2".into()));
        told.note(&Request::Shutdown);
        assert_eq!(
            told.replay(&record("Allocated", &["2", "3"])),
            [Request::PlayerDisconnect("3".into()), Request::Shutdown]
        );
        assert_eq!(told.replay(&record("Shutdown", &["2"])), []);
    }
}
