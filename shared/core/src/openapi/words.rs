//! Schemas for the protocol's word enums (`Code`, `Action`), listing every word they serialise to.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::action::Action;
use crate::code::Code;

fn words(description: &str, words: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(words))
        .into()
}

impl PartialSchema for Code {
    fn schema() -> RefOr<Schema> {
        words(
            "Machine-readable error code.",
            Code::ALL.iter().map(|c| c.as_str()),
        )
    }
}

impl ToSchema for Code {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Code")
    }
}

impl PartialSchema for Action {
    fn schema() -> RefOr<Schema> {
        words(
            "What happened: a device's report, `get` (an update check, logged while the device \
             is debugged) or `setChannel` (the device picked its channel).",
            Action::REPORTED
                .iter()
                .chain([&Action::SetChannel])
                .map(|a| a.as_str()),
        )
    }
}

impl ToSchema for Action {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Action")
    }
}
