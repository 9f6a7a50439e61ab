//! What each route is for, and what it reads and answers, by handler: the route table says
//! where a route lives, this says what it means. A new handler does not compile until it has
//! an entry here.

use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{ObjectBuilder, RefOr, Type};

use super::Schemas;
use crate::api::*;
use crate::app::App;
use crate::bundle::Bundle;
use crate::channel::Channel;
use crate::device::{DailyStat, DeviceEvent};
use crate::history::ChannelChange;
use crate::key::ApiKey;
use crate::protocol::*;
use crate::routes::table::Handler;

/// A request body.
pub struct Body {
    pub schema: RefOr<Schema>,
    pub required: bool,
}

/// One operation's own facts; the shared error answers come from its path.
pub struct Operation {
    pub id: &'static str,
    pub summary: &'static str,
    pub body: Option<Body>,
    /// Status, description, body.
    pub answers: Vec<(u16, &'static str, RefOr<Schema>)>,
    /// Whether it may answer 409.
    pub conflict: bool,
    /// Query parameters: name, description, schema.
    pub query: Vec<(&'static str, &'static str, RefOr<Schema>)>,
}

fn op(id: &'static str, summary: &'static str) -> Operation {
    Operation {
        id,
        summary,
        body: None,
        answers: Vec::new(),
        conflict: false,
        query: Vec::new(),
    }
}

impl Operation {
    fn body(mut self, schema: RefOr<Schema>) -> Self {
        self.body = Some(Body {
            schema,
            required: true,
        });
        self
    }
    fn optional_body(mut self, schema: RefOr<Schema>) -> Self {
        self.body = Some(Body {
            schema,
            required: false,
        });
        self
    }
    fn answer(mut self, status: u16, description: &'static str, schema: RefOr<Schema>) -> Self {
        self.answers.push((status, description, schema));
        self
    }
    fn conflict(mut self) -> Self {
        self.conflict = true;
        self
    }
    fn query(
        mut self,
        name: &'static str,
        description: &'static str,
        schema: impl Into<RefOr<Schema>>,
    ) -> Self {
        self.query.push((name, description, schema.into()));
        self
    }
}

fn array(item: RefOr<Schema>) -> RefOr<Schema> {
    ArrayBuilder::new().items(item).into()
}

fn one_of(choices: impl IntoIterator<Item = RefOr<Schema>>) -> RefOr<Schema> {
    let mut b = OneOfBuilder::new();
    for c in choices {
        b = b.item(c);
    }
    b.into()
}

pub fn operation(h: Handler, s: &mut Schemas) -> Operation {
    use Handler as H;
    match h {
        H::Check => {
            let answer = one_of([s.of::<UpdateAvailable>(), s.of::<RevertToBuiltin>(), s.of::<SoftError>()]);
            op("checkForUpdate", "Update check (the plugin's `/updates`).")
                .body(s.of::<DeviceRequest>())
                .answer(200, "An update, back to builtin, or why not (a soft error).", answer)
        }
        H::ManifestSize => {
            let answer = one_of([s.of::<ManifestSizes>(), s.of::<SoftError>()]);
            op("manifestSize", "Download size of a manifest bundle's files the device lacks.")
                .body(s.of::<ManifestSizeRequest>())
                .answer(200, "Sizes, or a soft error.", answer)
        }
        H::PostStats => {
            let event = s.of::<StatsEvent>();
            let batch: RefOr<Schema> = ArrayBuilder::new().items(event.clone()).max_items(Some(200)).into();
            let answer = one_of([s.of::<StatsReply>(), s.of::<SoftError>()]);
            op("postStats", "Device events: one, or a batch of up to 200.")
                .body(one_of([event, batch]))
                .answer(200, "Recorded (per-event results for a batch), or a soft error.", answer)
        }
        H::ChannelSelfSet => {
            let answer = one_of([s.of::<ChannelChoice>(), s.of::<SoftError>()]);
            op("setChannelSelf", "A device picks a channel.")
                .body(s.of::<ChannelSelfRequest>())
                .answer(200, "Done, or a soft error.", answer)
        }
        H::ChannelSelfGet => {
            let answer = one_of([s.of::<ChannelChoice>(), s.of::<SoftError>()]);
            op("getChannelSelf", "A device asks which channel it is on.")
                .body(s.of::<ChannelSelfRequest>())
                .answer(200, "Its channel, or a soft error.", answer)
        }
        H::ChannelSelfUnset => {
            let answer = one_of([s.of::<ChannelChoice>(), s.of::<SoftError>()]);
            op("unsetChannelSelf", "A device leaves its chosen channel (query parameters or JSON body).")
                .optional_body(s.of::<DeviceRequest>())
                .answer(200, "Done, or a soft error.", answer)
        }
        H::ChannelSelfList => {
            let answer = one_of([array(s.of::<SelfChannel>()), s.of::<SoftError>()]);
            let text = || ObjectBuilder::new().schema_type(Type::String);
            let flag = || ObjectBuilder::new().schema_type(Type::Boolean);
            op("listChannelSelf", "Channels a device may pick.")
                .query("app_id", "Reverse-domain app id (required).", text())
                .query("platform", "The device's platform (required).", s.of::<crate::device_request::Platform>())
                .query("device_id", "The device's UUID.", text())
                .query("version_name", "The bundle it runs.", text())
                .query("version_build", "Its native version.", text())
                .query("plugin_version", "The plugin's version.", text())
                .query("is_emulator", "Default `false`.", flag())
                .query("is_prod", "Default `true`.", flag())
                .answer(200, "The channels, or a soft error.", answer)
        }
        // Filtered out of the document (`Handler::is_page`).
        H::ConsoleRoot | H::ConsoleFile => op("console", "The web console."),
        H::OpenApi => op("openapi", "This document.").answer(
            200,
            "The OpenAPI document.",
            ObjectBuilder::new().schema_type(Type::Object).into(),
        ),
        H::Whoami => op("whoami", "The calling key.").answer(200, "The key.", s.of::<ApiKey>()),
        H::CreateKey => op(
            "createKey",
            "Create an API key (mode `all` only); its mode, apps and expiry never exceed the caller's.",
        )
        .body(s.of::<NewKey>())
        .answer(201, "The key, with its secret shown once.", s.of::<CreatedKey>()),
        H::ListKeys => op("listKeys", "List the API keys the caller manages (no secrets).")
            .answer(200, "Keys.", array(s.of::<ApiKey>())),
        H::DeleteKey => op(
            "deleteKey",
            "Revoke a key the caller manages (not the one making the call).",
        )
        .answer(200, "Revoked.", s.of::<KeyDeleted>())
        .conflict(),
        H::CreateApp => op("createApp", "Create an app.")
            .body(s.of::<NewApp>())
            .answer(201, "The app.", s.of::<App>())
            .conflict(),
        H::ListApps => op("listApps", "List apps the key may see.").answer(200, "Apps.", array(s.of::<App>())),
        H::GetApp => op("getApp", "An app.").answer(200, "The app.", s.of::<App>()),
        H::UpdateApp => op("updateApp", "Change an app.")
            .body(s.of::<AppPatch>())
            .answer(200, "The app.", s.of::<App>()),
        H::DeleteApp => op("deleteApp", "Delete an app and everything in it.")
            .answer(200, "Deleted.", s.of::<AppDeleted>()),
        H::CreateChannel => op("createChannel", "Create a channel (`name` is required).")
            .body(s.of::<ChannelFields>())
            .answer(201, "The channel.", s.of::<Channel>())
            .conflict(),
        H::ListChannels => op("listChannels", "List channels.").answer(200, "Channels.", array(s.of::<Channel>())),
        H::GetChannel => op("getChannel", "A channel.").answer(200, "The channel.", s.of::<Channel>()),
        H::UpdateChannel => op("updateChannel", "Change a channel (what it serves, to whom).")
            .body(s.of::<ChannelFields>())
            .answer(200, "The channel.", s.of::<Channel>())
            .conflict(),
        H::DeleteChannel => op("deleteChannel", "Delete a channel.")
            .answer(200, "Deleted.", s.of::<ChannelDeleted>()),
        H::StartRollout => op(
            "startRollout",
            "Serve a bundle to a share of the channel's devices (a new target starts a new cohort; the same target changes the share).",
        )
        .body(s.of::<RolloutStart>())
        .answer(200, "The channel.", s.of::<Channel>())
        .conflict(),
        H::ChangeRollout => op("changeRollout", "Change the rollout's share, pause or resume it.")
            .body(s.of::<RolloutChange>())
            .answer(200, "The channel.", s.of::<Channel>())
            .conflict(),
        H::PromoteRollout => op(
            "promoteRollout",
            "Complete the rollout: its bundle becomes the stable bundle for every device.",
        )
        .answer(200, "The channel.", s.of::<Channel>())
        .conflict(),
        H::Rollback => op(
            "rollback",
            "Abort the rollout, or serve the previous bundle (or `to`) again; the bundle left is marked rolled back.",
        )
        .optional_body(s.of::<RollbackRequest>())
        .answer(200, "The channel.", s.of::<Channel>())
        .conflict(),
        H::ChannelHistory => op(
            "channelHistory",
            "Every change of what the channel serves, newest first (at most 100): who, when, from, to, why.",
        )
        .answer(200, "The history.", array(s.of::<ChannelChange>())),
        H::ChannelStatus => op(
            "channelStatus",
            "What the channel serves, each served version's health over its window, and its latest changes.",
        )
        .answer(200, "The status.", s.of::<ChannelStatus>()),
        H::GetOverride => op("getOverride", "A device's channel override.")
            .answer(200, "The override (channel null if none).", s.of::<DeviceChannel>()),
        H::SetOverride => op("setOverride", "Pin a device to a channel.")
            .body(s.of::<SetDeviceChannel>())
            .answer(200, "The override.", s.of::<DeviceChannel>()),
        H::DeleteOverride => op(
            "deleteOverride",
            "Remove a device's override (`deleted` false when it had none).",
        )
        .answer(200, "Removed, or there was none.", s.of::<OverrideDeleted>()),
        H::DeviceEvents => op(
            "deviceEvents",
            "A device's recent events, oldest first. Update checks are among them only while a \
             debug session runs.",
        )
        .query(
            "since",
            "Only events after this time (ms since the epoch).",
            ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)),
        )
        .query(
            "limit",
            "At most this many events (default 200).",
            ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(1000)),
        )
        .answer(200, "Events.", array(s.of::<DeviceEvent>())),
        H::StartDebug => op(
            "startDebugSession",
            "Start or renew a device's debug session: until it ends, the device's update checks \
             are logged (its reports always are). A read key may do it.",
        )
        .optional_body(s.of::<StartDebug>())
        .answer(200, "The session runs until `until` (ms since the epoch).", s.of::<DebugSession>()),
        H::EndDebug => op(
            "endDebugSession",
            "End a device's debug session (`ended` false when none ran).",
        )
        .answer(200, "Ended, or there was none.", s.of::<DebugEnded>()),
        H::DailyStats => op("dailyStats", "Per-version, per-day counters.")
            .answer(200, "Counters.", array(s.of::<DailyStat>())),
        H::RegisterBundle => op("registerBundle", "Register a bundle; answers a presigned upload URL.")
            .body(s.of::<NewBundle>())
            .answer(
                200,
                "Already registered with the same content and still pending: a fresh upload URL.",
                s.of::<RegisteredBundle>(),
            )
            .answer(201, "Registered; PUT the bytes to `upload.url`.", s.of::<RegisteredBundle>())
            .conflict(),
        H::ListBundles => op("listBundles", "List bundles.").answer(200, "Bundles.", array(s.of::<Bundle>())),
        H::GetBundle => op("getBundle", "A bundle.").answer(200, "The bundle.", s.of::<Bundle>()),
        H::DeleteBundle => op("deleteBundle", "Delete a bundle no channel serves.")
            .answer(200, "Deleted.", s.of::<BundleDeleted>())
            .conflict(),
        H::CleanupFiles => op(
            "cleanupFiles",
            "Delete the app's file objects (delta updates) that no bundle lists any more.",
        )
        .answer(200, "What was deleted and kept.", s.of::<FilesCleaned>()),
        H::FinalizeBundle => op(
            "finalizeBundle",
            "Mark a bundle ready once storage holds its exact bytes.",
        )
        .answer(200, "The ready bundle.", s.of::<Bundle>())
        .conflict(),
    }
}
