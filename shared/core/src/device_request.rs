//! The fields every device request carries, parsed and validated to the protocol's error codes.

use crate::code::Code;
use semver::Version;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::app::is_valid_app_id;
use crate::error::ApiError;
use crate::version::{normalize_native, parse_plugin};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Ios,
    Android,
    Electron,
}

impl Platform {
    pub fn parse(s: &str) -> Option<Platform> {
        match s {
            "ios" => Some(Platform::Ios),
            "android" => Some(Platform::Android),
            "electron" => Some(Platform::Electron),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Electron => "electron",
        }
    }
}

/// Longest free-text field we accept from a device; the plugin sends far shorter values.
pub const MAX_TEXT: usize = 256;

/// A device request's common fields, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub app_id: String,
    /// Lowercased UUID.
    pub device_id: String,
    pub platform: Platform,
    pub custom_id: String,
    /// Normalised native version.
    pub version_build: Version,
    pub version_code: String,
    pub version_os: String,
    /// The bundle the device runs now, `builtin` replaced by the native version.
    pub version_name: String,
    pub plugin_version: Option<Version>,
    pub is_emulator: bool,
    pub is_prod: bool,
    pub default_channel: String,
    pub install_source: Option<String>,
    pub key_id: Option<String>,
}

impl DeviceInfo {
    /// Counted in stats: real phones running production builds.
    pub fn is_real(&self) -> bool {
        self.is_prod && !self.is_emulator
    }
    pub fn native(&self) -> String {
        self.version_build.to_string()
    }
    /// Current plugins report the native version as `version_name` while on the builtin bundle.
    pub fn on_builtin(&self) -> bool {
        self.version_name == self.native()
    }
}

/// How strict a route is about optional fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// `/updates`, `/channel_self`: `version_build` must be semver.
    Check,
    /// `/stats`: `version_build` may be absent; `custom_id` ≤ 36.
    Stats,
}

/// Parses the raw body. `invalid_json_parse_body` for bytes that are not JSON.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            Code::InvalidJsonParseBody,
            format!("Cannot parse json: {e}"),
        )
    })
}

/// The body's object, owned (no copy of the parsed map).
pub fn into_object(value: Value) -> Result<Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            Code::InvalidJsonBody,
            "the body must be a JSON object",
        )),
    }
}

/// A top-level field of a device request, as the field rules below see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Absent,
    Null,
    Str(&'a str),
    Bool(bool),
    /// A number, array or object.
    Other,
}

/// Where a device request's fields come from: a parsed `Value` object (`Map`), or the body's
/// fields read straight from its bytes (`BodyFields`, the update check's path). The rules
/// (`required`, `opt_str`, `parse_device`…) are written once, over this.
pub trait Fields {
    fn field(&self, key: &str) -> Field<'_>;
    fn is_empty(&self) -> bool;
}

impl Fields for Map<String, Value> {
    fn field(&self, key: &str) -> Field<'_> {
        match self.get(key) {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(Value::String(s)) => Field::Str(s),
            Some(Value::Bool(b)) => Field::Bool(*b),
            Some(_) => Field::Other,
        }
    }
    fn is_empty(&self) -> bool {
        Map::is_empty(self)
    }
}

/// A field's value as read from the body: strings borrowed unless they hold escapes; nested
/// values skipped, not built.
#[derive(Debug)]
enum Scalar<'a> {
    Null,
    Str(Cow<'a, str>),
    Bool(bool),
    Other,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(s)))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Scalar<'de>, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Scalar<'de>, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A device request body's top-level fields, read from its bytes without building a
/// `Value` tree (an update check's allocations were a tenth of its CPU). The last of a
/// repeated key wins, as with `Value`.
#[derive(Debug)]
pub struct BodyFields<'a>(BTreeMap<&'a str, Scalar<'a>>);

impl<'de> Deserialize<'de> for BodyFields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(d).map(BodyFields)
    }
}

impl Fields for BodyFields<'_> {
    fn field(&self, key: &str) -> Field<'_> {
        match self.0.get(key) {
            None => Field::Absent,
            Some(Scalar::Null) => Field::Null,
            Some(Scalar::Str(s)) => Field::Str(s),
            Some(Scalar::Bool(b)) => Field::Bool(*b),
            Some(Scalar::Other) => Field::Other,
        }
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads a device body's fields: `invalid_json_parse_body` for bytes that are not JSON, as
/// `parse_body`, and `invalid_json_body` for JSON that is not an object, as `into_object`.
pub fn body_fields(body: &[u8]) -> Result<BodyFields<'_>, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::bad_request(Code::InvalidJsonBody, "the body must be a JSON object")
        }
        _ => ApiError::bad_request(
            Code::InvalidJsonParseBody,
            format!("Cannot parse json: {e}"),
        ),
    })
}

fn schema(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(Code::InvalidJsonBody, msg)
}

/// An optional string field, bounded, with no control characters: versions, platforms,
/// channel names and actions never have them, and an escape sequence in one would reach the
/// operator's terminal through `updraft app debug`. `null` counts as absent.
pub fn opt_str<'a>(
    obj: &'a (impl Fields + ?Sized),
    key: &str,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    let s = opt_text(obj, key, max)?;
    if s.is_some_and(|s| s.chars().any(char::is_control)) {
        return Err(schema(format!("`{key}` contains control characters")));
    }
    Ok(s)
}

/// An optional free-text field, bounded (`custom_id`, which the app's developer chooses):
/// stored as sent; whoever prints it escapes it.
pub fn opt_text<'a>(
    obj: &'a (impl Fields + ?Sized),
    key: &str,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match obj.field(key) {
        Field::Absent | Field::Null => Ok(None),
        Field::Str(s) if s.chars().count() <= max => Ok(Some(s)),
        Field::Str(_) => Err(schema(format!("`{key}` is longer than {max} characters"))),
        _ => Err(schema(format!("`{key}` must be a string"))),
    }
}

pub fn opt_bool(obj: &(impl Fields + ?Sized), key: &str) -> Result<Option<bool>, ApiError> {
    match obj.field(key) {
        Field::Absent | Field::Null => Ok(None),
        Field::Bool(b) => Ok(Some(b)),
        _ => Err(schema(format!("`{key}` must be a boolean"))),
    }
}

pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A required identifier: absent, `null` or `""` is the protocol's `missing_*` code.
pub fn required<'a>(
    obj: &'a (impl Fields + ?Sized),
    key: &str,
    missing: Code,
) -> Result<&'a str, ApiError> {
    match obj.field(key) {
        Field::Absent | Field::Null | Field::Str("") => {
            Err(ApiError::bad_request(missing, format!("{key} is required")))
        }
        Field::Str(s) => Ok(s),
        _ => Err(schema(format!("`{key}` must be a string"))),
    }
}

/// Validates the fields shared by every device route, in the hosted service's order: an
/// empty object is a schema error, then `device_id`, then `app_id`, then the rest.
pub fn parse_device(
    obj: &(impl Fields + ?Sized),
    strictness: Strictness,
) -> Result<DeviceInfo, ApiError> {
    if obj.is_empty() {
        return Err(schema(
            "the body is empty: a device request names at least app_id, device_id and platform",
        ));
    }
    let device_id = required(obj, "device_id", Code::MissingDeviceId)?;
    let app_id = required(obj, "app_id", Code::MissingAppId)?;
    if !is_valid_app_id(app_id) {
        return Err(schema(format!(
            "app_id `{}` is not a reverse domain such as com.example.app",
            truncate(app_id)
        )));
    }
    if device_id.len() > 36 || !is_uuid(device_id) {
        return Err(schema(format!(
            "device_id `{}` is not a UUID",
            truncate(device_id)
        )));
    }
    let platform = match opt_str(obj, "platform", 16)? {
        Some(p) => Platform::parse(p).ok_or_else(|| {
            schema(format!(
                "platform `{p}` is not one of ios, android, electron"
            ))
        })?,
        None => return Err(schema("`platform` is required")),
    };
    let custom_max = match strictness {
        Strictness::Stats => 36,
        Strictness::Check => MAX_TEXT,
    };
    let custom_id = opt_text(obj, "custom_id", custom_max)?
        .unwrap_or("")
        .to_string();
    let version_code = opt_str(obj, "version_code", MAX_TEXT)?
        .unwrap_or("")
        .to_string();
    let version_os = opt_str(obj, "version_os", MAX_TEXT)?
        .unwrap_or("")
        .to_string();
    let raw_build = opt_str(obj, "version_build", MAX_TEXT)?;
    let version_build = match (raw_build, strictness) {
        (Some(raw), _) => normalize_native(raw).ok_or_else(|| {
            ApiError::bad_request(
                Code::SemverError,
                format!(
                    "Native version: {} doesn't follow semver convention, please follow https://semver.org",
                    truncate(raw)
                ),
            )
        })?,
        (None, Strictness::Stats) => Version::new(0, 0, 0),
        (None, Strictness::Check) => return Err(schema("`version_build` is required")),
    };
    let raw_name = opt_str(obj, "version_name", MAX_TEXT)?.unwrap_or("builtin");
    // An update check names the bundle it runs; a stats event may not (`""`).
    if raw_name.is_empty() && strictness == Strictness::Check {
        return Err(schema(
            "`version_name` is empty: send `builtin` or the running bundle",
        ));
    }
    let version_name = if raw_name == "builtin" {
        version_build.to_string()
    } else {
        raw_name.to_string()
    };
    let plugin_version = match opt_str(obj, "plugin_version", 64)? {
        None => None,
        Some(raw) => Some(parse_plugin(raw).ok_or_else(|| {
            schema(format!(
                "plugin_version `{}` is not a semver version",
                truncate(raw)
            ))
        })?),
    };
    let is_emulator = opt_bool(obj, "is_emulator")?.unwrap_or(false);
    let is_prod = opt_bool(obj, "is_prod")?.unwrap_or(true);
    let default_channel = opt_str(obj, "defaultChannel", 64)?
        .unwrap_or("")
        .to_string();
    let install_source = opt_str(obj, "install_source", 64)?.map(str::to_string);
    let key_id = opt_str(obj, "key_id", 64)?
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    Ok(DeviceInfo {
        app_id: app_id.to_string(),
        device_id: device_id.to_ascii_lowercase(),
        platform,
        custom_id,
        version_build,
        version_code,
        version_os,
        version_name,
        plugin_version,
        is_emulator,
        is_prod,
        default_channel,
        install_source,
        key_id,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "platform": "ios", "device_id": "6AAB1F2B-6B2A-4F4C-9D4B-1A2B3C4D5E6F",
            "app_id": "com.example.app", "custom_id": "", "version_build": "1.2",
            "version_code": "12", "version_os": "17.0", "version_name": "builtin",
            "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true,
            "defaultChannel": ""
        })
    }

    fn code_of(mutate: impl FnOnce(&mut Map<String, Value>)) -> &'static str {
        let mut v = base();
        mutate(v.as_object_mut().unwrap());
        match parse_device(v.as_object().unwrap(), Strictness::Check) {
            Ok(_) => "ok",
            Err(e) => {
                assert_eq!(e.status, 400);
                e.code.as_str()
            }
        }
    }

    #[test]
    fn normalises() {
        let d = parse_device(base().as_object().unwrap(), Strictness::Check).unwrap();
        assert_eq!(d.device_id, "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f");
        assert_eq!(d.native(), "1.2.0");
        assert_eq!(
            d.version_name, "1.2.0",
            "builtin is replaced by the native version"
        );
        assert!(d.on_builtin());
        assert_eq!(d.platform, Platform::Ios);
    }

    #[test]
    fn defaults() {
        let d = parse_device(
            json!({"app_id":"com.a.b","device_id":"6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f","platform":"android","version_build":"2"})
                .as_object()
                .unwrap(),
            Strictness::Check,
        )
        .unwrap();
        assert!(!d.is_emulator);
        assert!(d.is_prod);
        assert_eq!(d.plugin_version, None);
    }

    #[test]
    fn error_codes() {
        type Mutation = Box<dyn FnOnce(&mut Map<String, Value>)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("ok", Box::new(|_| {})),
            // The hosted service's order: `{}` is a schema error…
            ("invalid_json_body", Box::new(|o| o.clear())),
            // …a body with `platform` only lacks its device id first…
            (
                "missing_device_id",
                Box::new(|o| o.retain(|k, _| k == "platform")),
            ),
            // …and one with a device id but no app id lacks the app id.
            (
                "missing_app_id",
                Box::new(|o| o.retain(|k, _| k == "platform" || k == "device_id")),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("plugin_version".into(), json!("eight"));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("plugin_version".into(), json!(""));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("version_name".into(), json!(""));
                }),
            ),
            (
                "ok",
                Box::new(|o| {
                    o.remove("plugin_version");
                }),
            ),
            // An escape sequence aimed at the operator's terminal (`updraft app debug`).
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert(
                        "version_name".into(),
                        json!("1.1.0\u{1b}]0;PWNED\u{7}\u{1b}[2K\r"),
                    );
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("defaultChannel".into(), json!("beta\n"));
                }),
            ),
            // Free text the app's developer chose: stored, and escaped wherever it is printed.
            (
                "ok",
                Box::new(|o| {
                    o.insert("custom_id".into(), json!("user\tid"));
                }),
            ),
            (
                "missing_app_id",
                Box::new(|o| {
                    o.remove("app_id");
                }),
            ),
            (
                "missing_app_id",
                Box::new(|o| {
                    o.insert("app_id".into(), json!(""));
                }),
            ),
            (
                "missing_device_id",
                Box::new(|o| {
                    o.remove("device_id");
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("app_id".into(), json!(12));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("app_id".into(), json!("nodots"));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("device_id".into(), json!("not-a-uuid"));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("device_id".into(), json!(["x"]));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("platform".into(), json!("windows"));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.remove("platform");
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("is_prod".into(), json!("yes"));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("custom_id".into(), json!("x".repeat(5000)));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.insert("version_name".into(), json!({"a":1}));
                }),
            ),
            (
                "invalid_json_body",
                Box::new(|o| {
                    o.remove("version_build");
                }),
            ),
            (
                "semver_error",
                Box::new(|o| {
                    o.insert("version_build".into(), json!("1.2.3.4"));
                }),
            ),
            (
                "semver_error",
                Box::new(|o| {
                    o.insert("version_build".into(), json!("banana"));
                }),
            ),
        ];
        for (i, (want, mutate)) in cases.into_iter().enumerate() {
            assert_eq!(code_of(mutate), want, "case {i}");
        }
    }

    #[test]
    fn stats_events_may_name_no_bundle() {
        let mut v = base();
        v["version_name"] = json!("");
        let d = parse_device(v.as_object().unwrap(), Strictness::Stats).unwrap();
        assert_eq!(d.version_name, "");
    }

    #[test]
    fn not_json_and_not_object() {
        assert_eq!(
            parse_body(b"{nope").unwrap_err().code,
            "invalid_json_parse_body"
        );
        let v = parse_body(b"[1,2]").unwrap();
        assert_eq!(into_object(v).unwrap_err().code, "invalid_json_body");
    }
}

#[cfg(test)]
mod body_fields_tests {
    use super::*;
    use serde_json::json;

    type Answer = Result<DeviceInfo, (u16, String)>;

    /// The same rules over a parsed `Value` and over the body's bytes.
    fn both(body: &str) -> (Answer, Answer) {
        let as_value = parse_body(body.as_bytes())
            .and_then(into_object)
            .and_then(|m| parse_device(&m, Strictness::Check));
        let as_fields =
            body_fields(body.as_bytes()).and_then(|f| parse_device(&f, Strictness::Check));
        let key = |r: Result<DeviceInfo, ApiError>| {
            r.map_err(|e| {
                (
                    e.status.as_u16(),
                    format!("{} {}", e.code.as_str(), e.message),
                )
            })
        };
        (key(as_value), key(as_fields))
    }

    #[test]
    fn reading_the_bytes_answers_exactly_as_the_value_tree_does() {
        let base = json!({
            "platform": "android", "device_id": "6AAB1F2B-6B2A-4F4C-9D4B-1A2B3C4D5E6F",
            "app_id": "com.example.app", "custom_id": "", "version_build": "1.2",
            "version_code": "12", "version_os": "14", "version_name": "builtin",
            "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true,
            "defaultChannel": "beta", "extra": {"nested": [1, {"device_id": 3}]}
        });
        let mut bodies: Vec<String> = vec![
            base.to_string(),
            "{}".into(),
            "[]".into(),
            "\"text\"".into(),
            "42".into(),
            "null".into(),
            "{".into(),
            "not json".into(),
            String::new(),
            // Escapes decode the same; a repeated key: the last wins.
            base.to_string().replace("\"builtin\"", "\"1.0.\\u0031\""),
            base.to_string()
                .replacen('{', "{\"app_id\":\"com.first.app\",", 1),
        ];
        for (key, value) in [
            ("device_id", json!(null)),
            ("device_id", json!("")),
            ("device_id", json!(12)),
            ("device_id", json!("not-a-uuid")),
            ("app_id", json!(["com.example.app"])),
            ("platform", json!("windows")),
            ("platform", json!(null)),
            ("custom_id", json!("x".repeat(300))),
            ("version_build", json!("one")),
            ("version_name", json!("")),
            ("version_name", json!("1.0\u{1b}[31m")),
            ("plugin_version", json!("x")),
            ("is_emulator", json!("yes")),
            ("is_prod", json!(null)),
            ("defaultChannel", json!({"a": 1})),
            ("key_id", json!("")),
        ] {
            let mut v = base.clone();
            v[key] = value;
            bodies.push(v.to_string());
        }
        for body in &bodies {
            let (value, fields) = both(body);
            assert_eq!(value, fields, "body: {body}");
        }
        assert!(both(&bodies[0]).1.is_ok());
    }
}
