//! Which sides of the crate an App carries, to catch a protocol registered before the plugins
//! in an App with one side only.

use bevy::prelude::*;

/// The sides present in an App, noted by [`ServerPlugin`](crate::server::ServerPlugin) and
/// [`ClientPlugin`](crate::client::ClientPlugin), and whether registrations ran before
/// [`SharedPlugin`](super::SharedPlugin) (they then added both sides' parts, not knowing yet).
#[derive(Resource, Default, Debug)]
pub(crate) struct Sides {
    pub(crate) server: bool,
    pub(crate) client: bool,
    pub(crate) registered_early: bool,
}

/// The side whose parts a registration made before the plugins added, but whose plugin the
/// App does not carry: that side's systems would fail for want of its resources.
pub(crate) fn missing_side(sides: &Sides) -> Option<&'static str> {
    if !sides.registered_early {
        return None;
    }
    if cfg!(feature = "server") && !sides.server {
        return Some("ServerPlugin");
    }
    if cfg!(feature = "client") && !sides.client {
        return Some("ClientPlugin");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_early_registration_without_a_side_is_refused() {
        let both = Sides {
            server: true,
            client: true,
            registered_early: true,
        };
        assert_eq!(missing_side(&both), None);
        let server_only = Sides {
            client: false,
            ..both
        };
        let expected = cfg!(feature = "client").then_some("ClientPlugin");
        assert_eq!(missing_side(&server_only), expected);
        let registered_after = Sides {
            registered_early: false,
            ..server_only
        };
        assert_eq!(missing_side(&registered_after), None);
    }
}
