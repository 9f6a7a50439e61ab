//! Every route, once: method, path pattern, the job (Lambda function) that hosts it, and its
//! handler. `job_of`, dispatch, the OpenAPI check and the hosts all read this table.

use crate::code::Code;
use std::sync::OnceLock;

use http::Method;

use super::Job;
use crate::error::ApiError;

/// What serves a route; `dispatch` calls the matching function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handler {
    Check,
    ManifestSize,
    PostStats,
    ChannelSelfSet,
    ChannelSelfGet,
    ChannelSelfUnset,
    ChannelSelfList,
    OpenApi,
    Whoami,
    CreateKey,
    ListKeys,
    DeleteKey,
    CreateApp,
    ListApps,
    GetApp,
    UpdateApp,
    DeleteApp,
    CreateChannel,
    ListChannels,
    GetChannel,
    UpdateChannel,
    DeleteChannel,
    StartRollout,
    ChangeRollout,
    PromoteRollout,
    Rollback,
    ChannelHistory,
    ChannelStatus,
    GetOverride,
    SetOverride,
    DeleteOverride,
    DeviceEvents,
    StartDebug,
    EndDebug,
    DailyStats,
    RegisterBundle,
    ListBundles,
    GetBundle,
    DeleteBundle,
    FinalizeBundle,
    CleanupFiles,
}

pub(crate) struct Route {
    pub method: Method,
    pub path: &'static str,
    pub job: Job,
    pub handler: Handler,
}

macro_rules! routes {
    ($($method:ident $path:literal => $job:ident :: $handler:ident;)*) => {
        /// The table. Paths use `{channel}` for one segment (`matchit` syntax).
        pub(crate) fn all() -> Vec<Route> {
            vec![$(Route { method: Method::$method, path: $path, job: Job::$job, handler: Handler::$handler },)*]
        }
    };
}

routes! {
    POST   "/updates"                                           => Updates::Check;
    POST   "/updates/manifest_size"                             => Updates::ManifestSize;
    POST   "/stats"                                             => Stats::PostStats;
    POST   "/channel_self"                                      => Channels::ChannelSelfSet;
    PUT    "/channel_self"                                      => Channels::ChannelSelfGet;
    DELETE "/channel_self"                                      => Channels::ChannelSelfUnset;
    GET    "/channel_self"                                      => Channels::ChannelSelfList;
    GET    "/openapi.json"                                      => Admin::OpenApi;
    GET    "/v1/whoami"                                         => Admin::Whoami;
    POST   "/v1/keys"                                           => Admin::CreateKey;
    GET    "/v1/keys"                                           => Admin::ListKeys;
    DELETE "/v1/keys/{key_id}"                                      => Admin::DeleteKey;
    POST   "/v1/apps"                                           => Admin::CreateApp;
    GET    "/v1/apps"                                           => Admin::ListApps;
    GET    "/v1/apps/{app_id}"                                     => Admin::GetApp;
    PATCH  "/v1/apps/{app_id}"                                     => Admin::UpdateApp;
    DELETE "/v1/apps/{app_id}"                                     => Admin::DeleteApp;
    POST   "/v1/apps/{app_id}/channels"                            => Channels::CreateChannel;
    GET    "/v1/apps/{app_id}/channels"                            => Channels::ListChannels;
    GET    "/v1/apps/{app_id}/channels/{channel}"                     => Channels::GetChannel;
    PATCH  "/v1/apps/{app_id}/channels/{channel}"                     => Channels::UpdateChannel;
    DELETE "/v1/apps/{app_id}/channels/{channel}"                     => Channels::DeleteChannel;
    POST   "/v1/apps/{app_id}/channels/{channel}/rollout"             => Channels::StartRollout;
    PATCH  "/v1/apps/{app_id}/channels/{channel}/rollout"             => Channels::ChangeRollout;
    POST   "/v1/apps/{app_id}/channels/{channel}/promote"             => Channels::PromoteRollout;
    POST   "/v1/apps/{app_id}/channels/{channel}/rollback"            => Channels::Rollback;
    GET    "/v1/apps/{app_id}/channels/{channel}/history"             => Channels::ChannelHistory;
    GET    "/v1/apps/{app_id}/channels/{channel}/status"              => Channels::ChannelStatus;
    GET    "/v1/apps/{app_id}/devices/{device_id}/channel"            => Channels::GetOverride;
    PUT    "/v1/apps/{app_id}/devices/{device_id}/channel"            => Channels::SetOverride;
    DELETE "/v1/apps/{app_id}/devices/{device_id}/channel"            => Channels::DeleteOverride;
    GET    "/v1/apps/{app_id}/devices/{device_id}/events"             => Stats::DeviceEvents;
    POST   "/v1/apps/{app_id}/devices/{device_id}/debug"              => Stats::StartDebug;
    DELETE "/v1/apps/{app_id}/devices/{device_id}/debug"              => Stats::EndDebug;
    GET    "/v1/apps/{app_id}/stats"                               => Stats::DailyStats;
    POST   "/v1/apps/{app_id}/bundles"                             => Uploads::RegisterBundle;
    GET    "/v1/apps/{app_id}/bundles"                             => Uploads::ListBundles;
    GET    "/v1/apps/{app_id}/bundles/{version}"                   => Uploads::GetBundle;
    DELETE "/v1/apps/{app_id}/bundles/{version}"                   => Uploads::DeleteBundle;
    POST   "/v1/apps/{app_id}/bundles/{version}/finalize"          => Uploads::FinalizeBundle;
    POST   "/v1/apps/{app_id}/files/cleanup"                       => Uploads::CleanupFiles;
}

/// The table compiled into a `matchit` router: path → the routes on it (one per method).
fn router() -> &'static (Vec<Route>, matchit::Router<Vec<usize>>) {
    static ROUTER: OnceLock<(Vec<Route>, matchit::Router<Vec<usize>>)> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let table = all();
        let mut paths: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (i, r) in table.iter().enumerate() {
            match paths.iter_mut().find(|(p, _)| *p == r.path) {
                Some((_, idx)) => idx.push(i),
                None => paths.push((r.path, vec![i])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, idx) in paths {
            router
                .insert(path, idx)
                .unwrap_or_else(|e| panic!("route {path}: {e}"));
        }
        (table, router)
    })
}

/// A request matched to the table: its path's routes and the decoded path parameters.
pub(crate) struct Matched {
    routes: &'static [usize],
    params: Vec<(&'static str, String)>,
}

impl Matched {
    /// The job hosting this path (every method of a path lives in one job).
    pub fn job(&self) -> Job {
        router().0[self.routes[0]].job
    }

    /// The route for `method`, or 405.
    pub fn for_method(&self, method: &Method, path: &str) -> Result<Handler, ApiError> {
        let table = &router().0;
        self.routes
            .iter()
            .map(|&i| &table[i])
            .find(|r| r.method == method)
            .map(|r| r.handler)
            .ok_or_else(|| {
                let allowed: Vec<&str> = self
                    .routes
                    .iter()
                    .map(|&i| table[i].method.as_str())
                    .collect();
                ApiError::new(
                    http::StatusCode::METHOD_NOT_ALLOWED,
                    Code::MethodNotAllowed,
                    format!(
                        "{method} is not allowed on {path} (use {})",
                        allowed.join(", ")
                    ),
                )
            })
    }

    /// A path parameter, percent-decoded (`+` stays `+`: it is not a space in a path).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Matches a raw (still percent-encoded) path. `Ok(None)`: no route has this path.
pub(crate) fn find(path: &str) -> Result<Option<Matched>, ApiError> {
    let Ok(m) = router().1.at(path) else {
        return Ok(None);
    };
    let table = &router().0;
    let pattern = table[m.value[0]].path;
    let mut params = Vec::new();
    for (name, raw) in m.params.iter() {
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| {
                ApiError::bad_request(
                    Code::InvalidPath,
                    format!("the `{name}` part of the path is not UTF-8 once decoded"),
                )
            })?;
        // The pattern owns the name for as long as the table lives.
        let name = pattern
            .split(['{', '}'])
            .find(|n| *n == name)
            .unwrap_or_default();
        params.push((name, decoded.into_owned()));
    }
    Ok(Some(Matched {
        routes: m.value,
        params,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_router_once() {
        let table = all();
        for r in &table {
            let m = find(&r.path.replace('{', "x").replace('}', ""))
                .unwrap()
                .unwrap_or_else(|| panic!("{} is not routed", r.path));
            assert_eq!(m.for_method(&r.method, r.path).unwrap(), r.handler);
            let same = table
                .iter()
                .filter(|o| o.path == r.path && o.method == r.method)
                .count();
            assert_eq!(same, 1, "{} {} is in the table twice", r.method, r.path);
        }
    }

    #[test]
    fn semver_build_metadata_keeps_its_plus() {
        let m = find("/v1/apps/com.a.b/bundles/1.0.0+b1").unwrap().unwrap();
        assert_eq!(m.param("version"), "1.0.0+b1");
        let m = find("/v1/apps/com.a.b/bundles/1.0.0%2Bb1")
            .unwrap()
            .unwrap();
        assert_eq!(m.param("version"), "1.0.0+b1");
        let m = find("/v1/apps/com.a.b/channels/my%20beta")
            .unwrap()
            .unwrap();
        assert_eq!(m.param("channel"), "my beta");
    }

    #[test]
    fn unknown_paths_are_not_found_and_known_paths_refuse_other_methods() {
        assert!(
            find("/v1/apps/com.a.b/bundles/1.0.0/extra")
                .unwrap()
                .is_none()
        );
        assert!(find("/v1/apps/com.a.b/nothing").unwrap().is_none());
        let m = find("/v1/apps/com.a.b/bundles/1.0.0").unwrap().unwrap();
        assert_eq!(m.job(), Job::Uploads);
        let e = m.for_method(&Method::PUT, "/x").unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code.as_str()),
            (405, "method_not_allowed")
        );
        assert!(
            find("/v1/apps/%FF/stats").is_err(),
            "invalid UTF-8 is refused"
        );
    }

    /// The HTTP API events of each function in `infra/template.yaml`: (function, method, path).
    fn template_events() -> Vec<(String, String, String)> {
        let template = include_str!("../../../../infra/template.yaml");
        let mut function = String::new();
        let mut events = Vec::new();
        for line in template.lines() {
            if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':')
            {
                function = line.trim().trim_end_matches(':').to_string();
            }
            let Some(props) = line
                .trim()
                .strip_prefix("Properties: {ApiId: !Ref HttpApi, ")
            else {
                continue;
            };
            let field = |name: &str| {
                props
                    .split(", ")
                    .find_map(|f| f.strip_prefix(name))
                    .map(|v| v.trim_end_matches('}').trim_matches('"').to_string())
                    .unwrap_or_default()
            };
            events.push((function.clone(), field("Method: "), field("Path: ")));
        }
        events
    }

    /// How specifically an API Gateway route (`method`, `path`) matches a request, as API
    /// Gateway ranks them (literal segments over parameters over greedy ones, a method over
    /// ANY, `$default` last), or `None` when it does not match.
    fn gateway_match(
        method: &str,
        path: &str,
        req_method: &Method,
        req_path: &str,
    ) -> Option<(u8, usize, u8)> {
        if method != "ANY" && method != req_method.as_str() {
            return None;
        }
        let by_method = u8::from(method != "ANY");
        if path == "$default" {
            return Some((0, 0, by_method));
        }
        let want: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let got: Vec<&str> = req_path.trim_start_matches('/').split('/').collect();
        let mut literal = 0;
        for (i, w) in want.iter().enumerate() {
            if w.ends_with("+}") {
                return (got.len() > i).then_some((1, literal, by_method));
            }
            let g = got.get(i)?;
            if w.starts_with('{') {
                continue;
            }
            if w != g {
                return None;
            }
            literal += 1;
        }
        (want.len() == got.len()).then_some((2, literal, by_method))
    }

    #[test]
    fn the_template_sends_every_route_to_the_function_of_its_job() {
        let events = template_events();
        assert!(
            events.len() > 10,
            "events read from the template: {events:?}"
        );
        for r in all() {
            let sample = r.path.replace('{', "x").replace('}', "");
            let best = events
                .iter()
                .filter_map(|(f, m, p)| Some((gateway_match(m, p, &r.method, &sample)?, f)))
                .max_by_key(|(rank, _)| *rank)
                .map(|(_, f)| f.as_str());
            let want = format!("{:?}Function", r.job);
            assert_eq!(
                best,
                Some(want.as_str()),
                "{} {} reaches {best:?} on AWS, not the function hosting it",
                r.method,
                r.path
            );
        }
    }
}
