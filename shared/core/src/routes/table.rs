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
    ConsoleRoot,
    ConsoleFile,
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
    GET    "/"                                                  => Admin::ConsoleRoot;
    GET    "/console/"                                          => Admin::ConsoleFile;
    GET    "/console/{file}"                                    => Admin::ConsoleFile;
}

impl Handler {
    /// The web console's pages and files: routes, but not operations of the API document.
    pub(crate) fn is_page(self) -> bool {
        matches!(self, Handler::ConsoleRoot | Handler::ConsoleFile)
    }
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

    /// The distribution in `infra/template.yaml`: its path patterns in order, each with the
    /// function its origin is the URL of (or the origin's id when it is not a function).
    fn template_behaviours() -> Vec<(String, String)> {
        let template = include_str!("../../../../infra/template.yaml");
        let mut origins = std::collections::HashMap::new();
        let mut behaviours = Vec::new();
        let mut id: Option<String> = None;
        let mut pattern: Option<String> = None;
        for line in template.lines().map(str::trim) {
            if let Some(v) = line.strip_prefix("- Id: ") {
                id = Some(v.to_string());
            } else if let (Some(domain), Some(origin)) =
                (line.strip_prefix("DomainName: "), id.take())
            {
                let function = domain
                    .split("!GetAtt ")
                    .nth(1)
                    .and_then(|g| g.split("Url.FunctionUrl").next());
                origins.insert(origin.clone(), function.map_or(origin, str::to_string));
            } else if let Some(v) = line.strip_prefix("- PathPattern: ") {
                pattern = Some(v.to_string());
            } else if let (Some(target), Some(p)) =
                (line.strip_prefix("TargetOriginId: "), pattern.take())
            {
                behaviours.push((p, target.to_string()));
            }
        }
        behaviours
            .into_iter()
            .map(|(p, origin)| (p, origins.get(&origin).cloned().unwrap_or(origin)))
            .collect()
    }

    /// CloudFront's path pattern match: `*` any run of characters (`/` included), `?` one.
    fn cloudfront_match(pattern: &[u8], path: &[u8]) -> bool {
        match (pattern.first(), path.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                cloudfront_match(&pattern[1..], path)
                    || (!path.is_empty() && cloudfront_match(pattern, &path[1..]))
            }
            (Some(b'?'), Some(_)) => cloudfront_match(&pattern[1..], &path[1..]),
            (Some(p), Some(c)) if p == c => cloudfront_match(&pattern[1..], &path[1..]),
            _ => false,
        }
    }

    #[test]
    fn cloudfront_patterns_match_as_cloudfront_does() {
        assert!(cloudfront_match(b"/updates*", b"/updates"));
        assert!(cloudfront_match(b"/updates*", b"/updates/manifest_size"));
        assert!(cloudfront_match(
            b"/v1/apps/*/stats",
            b"/v1/apps/com.a/stats"
        ));
        assert!(!cloudfront_match(
            b"/v1/apps/*/stats",
            b"/v1/apps/com.a/stats/x"
        ));
        assert!(!cloudfront_match(b"/stats", b"/statsx"));
        assert!(cloudfront_match(b"/a?c", b"/abc"));
    }

    #[test]
    fn the_template_sends_every_route_to_the_function_of_its_job() {
        let behaviours = template_behaviours();
        assert!(
            behaviours.len() > 10,
            "path patterns read from the template: {behaviours:?}"
        );
        // The health check is the updates function's, outside the route table.
        let mut paths: Vec<(String, String)> = vec![("/ok".into(), "UpdatesFunction".into())];
        for r in all() {
            // Realistic values: an app id has dots, a device id dashes, a version both.
            let sample = r
                .path
                .replace("{app_id}", "com.example.app")
                .replace("{device_id}", "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f")
                .replace("{version}", "1.2.3-rc.1")
                .replace("{channel}", "production")
                .replace("{key_id}", "k_0123abcd")
                .replace("{file}", "app.js");
            assert!(
                !sample.contains('{'),
                "a parameter without a sample: {sample}"
            );
            paths.push((sample, format!("{:?}Function", r.job)));
        }
        for (path, want) in paths {
            // CloudFront takes the first pattern that matches, in the order listed.
            let matched = behaviours
                .iter()
                .find(|(p, _)| cloudfront_match(p.as_bytes(), path.as_bytes()))
                .map(|(_, f)| f.as_str());
            // `/` alone cannot be a path pattern: the default behaviour takes it, which is the
            // admin function unless bundles are served through the distribution (then the
            // console is at /console/, as README says).
            let reached = match (matched, path.as_str()) {
                (None, "/") => Some("AdminFunction"),
                (m, _) => m,
            };
            assert_eq!(
                reached,
                Some(want.as_str()),
                "{path} reaches {reached:?} through the distribution, not the function hosting it"
            );
        }
    }
}
