//! The OpenAPI 3.1 document, generated: paths and methods from the route table, bodies and
//! answers from the API's own types (their `utoipa::ToSchema` derives), and what each
//! operation is for from `operations`. `openapi.json` beside the crate is this generation,
//! checked in so reviews see API changes; a test keeps the two equal, and the server serves
//! the checked-in file (no generation at run time, nothing added to a Lambda bootstrap).
//!
//! Regenerate after changing a route or a type: `UPDATE_OPENAPI=1 cargo test -p updraft-core openapi`.

mod operations;
mod words;

use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HeaderBuilder, InfoBuilder, LicenseBuilder, OpenApiBuilder,
    PathItem, PathsBuilder, Ref, RefOr, Required, ResponseBuilder, Schema,
};

use crate::protocol::ErrorBody;
use crate::routes::table;
pub use operations::{Body, Operation};

/// The schemas an operation names, collected as the document is built.
#[derive(Default)]
pub struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    /// A reference to `T`'s schema, which joins the document with every schema it names.
    pub fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().to_string();
        if !self.0.iter().any(|(n, _)| *n == name) {
            self.0.push((name.clone(), T::schema()));
            let mut more = Vec::new();
            T::schemas(&mut more);
            for (n, s) in more {
                if !self.0.iter().any(|(m, _)| *m == n) {
                    self.0.push((n, s));
                }
            }
        }
        RefOr::Ref(Ref::from_schema_name(name))
    }
}

/// An error answer shared by many operations, by name.
struct Shared {
    name: &'static str,
    description: &'static str,
    retry_after: bool,
}

const SHARED: &[Shared] = &[
    Shared {
        name: "BadRequest",
        description: "Invalid input (`error` names the problem).",
        retry_after: false,
    },
    Shared {
        name: "Unauthorized",
        description: "No key, an unknown key, a revoked or expired key.",
        retry_after: false,
    },
    Shared {
        name: "Forbidden",
        description: "The key's mode or app list does not allow this.",
        retry_after: false,
    },
    Shared {
        name: "NotFound",
        description: "No such app (or channel, bundle, key).",
        retry_after: false,
    },
    Shared {
        name: "MethodNotAllowed",
        description: "Method not allowed on this path.",
        retry_after: false,
    },
    Shared {
        name: "Conflict",
        description: "Conflicts with the current state (`error` says how).",
        retry_after: false,
    },
    Shared {
        name: "TooLarge",
        description: "Body too large.",
        retry_after: false,
    },
    Shared {
        name: "AuthThrottled",
        description: "`too_many_requests`: this address sent too many API keys that are not live \
                      keys (at most 30 a minute); a valid key is never refused this way (see \
                      `Retry-After`).",
        retry_after: true,
    },
    Shared {
        name: "Unavailable",
        description: "Storage is unavailable; retry after `Retry-After` seconds.",
        retry_after: true,
    },
    Shared {
        name: "DeviceBadRequest",
        description: "Invalid device request. `error` is the protocol's code, checked in this \
                      order: `invalid_json_parse_body` (not JSON), `invalid_json_body` (not an \
                      object, or an empty one), `missing_device_id`, `missing_app_id`, then \
                      `invalid_json_body` for any malformed field (including a `plugin_version` \
                      that is not semver and, on update checks, an empty `version_name`) and \
                      `semver_error` for a native version that is not semver. `GET \
                      /channel_self` answers `invalid_query_parameters` for a malformed query \
                      and `missing_app_id` for one without `app_id`.",
        retry_after: false,
    },
    Shared {
        name: "TooMany",
        description: "`on_premise_app`: the app is not served here; `too_many_requests`: too many \
                      requests from this device or address (the plugin sends its \
                      `rate_limit_reached` statistic only for this code) (see `Retry-After`).",
        retry_after: true,
    },
];

/// The statuses every operation of a kind may answer besides its own, and the shared answer
/// each one names.
fn shared_errors(path: &str, conflict: bool) -> Vec<(&'static str, &'static str)> {
    if path.starts_with("/v1/") {
        let mut e = vec![
            ("400", "BadRequest"),
            ("401", "Unauthorized"),
            ("403", "Forbidden"),
        ];
        if path.contains('{') {
            e.push(("404", "NotFound"));
        }
        e.push(("405", "MethodNotAllowed"));
        if conflict {
            e.push(("409", "Conflict"));
        }
        e.extend([
            ("413", "TooLarge"),
            ("429", "AuthThrottled"),
            ("503", "Unavailable"),
        ]);
        e
    } else if path == "/openapi.json" {
        vec![]
    } else {
        vec![
            ("400", "DeviceBadRequest"),
            ("405", "MethodNotAllowed"),
            ("413", "TooLarge"),
            ("429", "TooMany"),
            ("503", "Unavailable"),
        ]
    }
}

fn json(schema: RefOr<Schema>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

/// The app id rule (`app::is_valid_app_id`) as a schema, wherever an app id is read.
pub fn app_id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Reverse-domain app id, as in `capacitor.config` (`appId`).",
        ))
        .max_length(Some(crate::app::MAX_APP_ID_LEN))
        .pattern(Some(r"^[A-Za-z0-9]+(\.[A-Za-z0-9_-]+)+$"))
        .examples(["com.example.app"])
}

/// A path parameter, by its name in the route table.
fn path_parameter(name: &str) -> utoipa::openapi::path::Parameter {
    let (description, schema) = match name {
        "app_id" => ("Reverse-domain app id.", app_id()),
        "device_id" => (
            "Device UUID.",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(
                    "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                ))
                .examples(["6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f"]),
        ),
        "channel" => (
            "Channel name.",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(64))
                .examples(["production"]),
        ),
        "version" => (
            "Bundle version (semver).",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(64))
                .examples(["1.0.0"]),
        ),
        "key_id" => (
            "API key id.",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(64)),
        ),
        other => unreachable!("undocumented path parameter {other}"),
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn method(m: &http::Method) -> HttpMethod {
    match *m {
        http::Method::GET => HttpMethod::Get,
        http::Method::POST => HttpMethod::Post,
        http::Method::PUT => HttpMethod::Put,
        http::Method::PATCH => HttpMethod::Patch,
        http::Method::DELETE => HttpMethod::Delete,
        ref other => unreachable!("no route uses {other}"),
    }
}

/// The document, built from the route table and the types.
pub fn generate() -> String {
    let mut schemas = Schemas::default();
    let error = schemas.of::<ErrorBody>();
    let mut paths = PathsBuilder::new().path(
        "/ok",
        PathItem::new(
            HttpMethod::Get,
            OperationBuilder::new()
                .operation_id(Some("health"))
                .summary(Some("Health check."))
                .response(
                    "200",
                    ResponseBuilder::new().description("Alive.").content(
                        "application/json",
                        json(
                            ObjectBuilder::new()
                                .property(
                                    "status",
                                    ObjectBuilder::new()
                                        .schema_type(Type::String)
                                        .enum_values(Some(["ok"])),
                                )
                                .required("status")
                                .into(),
                        ),
                    ),
                ),
        ),
    );
    for route in table::all().into_iter().filter(|r| !r.handler.is_page()) {
        let Operation {
            id,
            summary,
            body,
            answers,
            conflict,
            query,
        } = operations::operation(route.handler, &mut schemas);
        let mut op = OperationBuilder::new()
            .operation_id(Some(id))
            .summary(Some(summary));
        if route.path.starts_with("/v1/") {
            op = op.security(SecurityRequirement::new("apiKey", Vec::<String>::new()));
        }
        for name in route
            .path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
        {
            op = op.parameter(path_parameter(name));
        }
        for (name, description, schema) in query {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(description))
                    .schema(Some(schema)),
            );
        }
        if let Some(Body { schema, required }) = body {
            op = op.request_body(Some(
                utoipa::openapi::request_body::RequestBodyBuilder::new()
                    .required(Some(if required {
                        Required::True
                    } else {
                        Required::False
                    }))
                    .content("application/json", json(schema))
                    .build(),
            ));
        }
        for (status, description, schema) in answers {
            op = op.response(
                status.to_string(),
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", json(schema)),
            );
        }
        for (status, shared) in shared_errors(route.path, conflict) {
            op = op.response(status, RefOr::Ref(Ref::from_response_name(shared)));
        }
        paths = paths.path(route.path, PathItem::new(method(&route.method), op));
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        "apiKey",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An Updraft API key (`upd_…`)."))
                .build(),
        ),
    );
    for s in SHARED {
        let mut r = ResponseBuilder::new()
            .description(s.description)
            .content("application/json", json(error.clone()));
        if s.retry_after {
            r = r.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(1)),
                    )
                    .description(Some("Seconds to wait before retrying."))
                    .build(),
            );
        }
        components = components.response(s.name, r.build());
    }
    let mut named = schemas.0;
    named.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, schema) in named {
        components = components.schema(name, schema);
    }
    let doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Updraft")
                .version(env!("CARGO_PKG_VERSION"))
                .license(Some(
                    LicenseBuilder::new()
                        .name("Apache-2.0")
                        .identifier(Some("Apache-2.0"))
                        .build(),
                ))
                .description(Some(
                    "Self-hosted live updates for Capacitor apps. Device routes speak the protocol \
                     of @capgo/capacitor-updater (see docs); `/v1` is the management API, \
                     authenticated by `Authorization: Bearer upd_…` keys.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build();
    let mut text = doc.to_pretty_json().expect("the document serializes");
    text.push('\n');
    text
}
