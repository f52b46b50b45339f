//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, built from the same endpoint list as the
//! router, so a route cannot exist without being described. Each operation says who may call
//! it (its security and `x-mend-role`) and that errors come as `{"error": {"code", "message"}}`.

use utoipa::ToSchema;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, KnownFormat, SchemaFormat, SchemaType};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder, Schema, Type,
};

use crate::auth::SESSION_COOKIE;
use crate::routes::{Access, endpoints};

/// What an endpoint reads from its body, as the document shows it.
#[derive(Clone, Copy)]
pub(crate) enum RequestBody {
    /// A JSON object: registers its schema (and those it refers to) and names it.
    Json(fn(&mut Schemas) -> String),
    /// A form (`application/x-www-form-urlencoded`) of these fields.
    Form(fn(&mut Schemas) -> String),
    /// A format of someone else's, as this media type, in words.
    Native(&'static str, &'static str),
}

/// The document's named schemas, as they are registered.
pub(crate) type Schemas = Vec<(String, RefOr<Schema>)>;

fn register<T: ToSchema>(schemas: &mut Schemas) -> String {
    T::schemas(schemas);
    let name = T::name().into_owned();
    schemas.push((name.clone(), T::schema()));
    name
}

/// A JSON body read as `T` (its schema derived from the same struct serde reads).
pub(crate) fn json<T: ToSchema>() -> RequestBody {
    RequestBody::Json(register::<T>)
}

/// A form read as `T`.
pub(crate) fn form<T: ToSchema>() -> RequestBody {
    RequestBody::Form(register::<T>)
}

fn request_body(request: RequestBody, schemas: &mut Schemas) -> utoipa::openapi::request_body::RequestBody {
    let (media, schema) = match request {
        RequestBody::Json(schema) => ("application/json", schema),
        RequestBody::Form(schema) => ("application/x-www-form-urlencoded", schema),
        RequestBody::Native(media, description) => {
            let any = ObjectBuilder::new().schema_type(SchemaType::AnyValue).description(Some(description));
            let content = ContentBuilder::new().schema(Some(any)).build();
            return RequestBodyBuilder::new().content(media, content).required(Some(Required::True)).build();
        }
    };
    let name = schema(schemas);
    // A body of optional fields may be left out: the routes read none as `{}`.
    let needs_a_field =
        schemas.iter().rev().find(|(n, _)| *n == name).is_some_and(
            |(_, schema)| matches!(schema, RefOr::T(Schema::Object(object)) if !object.required.is_empty()),
        );
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(name))).build();
    let required = if needs_a_field { Required::True } else { Required::False };
    RequestBodyBuilder::new().content(media, content).required(Some(required)).build()
}

pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    let mut schemas = Schemas::new();
    for e in endpoints() {
        let method = match e.method.as_str() {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "DELETE" => HttpMethod::Delete,
            other => unreachable!("no endpoint uses {other}"),
        };
        let mut operation = OperationBuilder::new()
            .summary(Some(e.summary))
            .operation_id(Some(format!("{} {}", e.method, e.path)))
            .response("2XX", ResponseBuilder::new().description("Success"))
            .response("4XX", if e.path.starts_with("/survey/") { page_response() } else { error_response() });
        if let Some(request) = e.request {
            operation = operation.request_body(Some(request_body(request, &mut schemas)));
        }
        for name in path_parameters(e.path) {
            let parameter = ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)));
            operation = operation.parameter(parameter);
        }
        operation = match e.access {
            Access::Open => operation,
            Access::Signed => operation.description(Some(
                "Proven by a signature over the body (X-Mend-Signature, or WeChat's), not by a user.",
            )),
            Access::Role(role) => operation
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .security(SecurityRequirement::new("session", Vec::<String>::new()))
                .extensions(Some(ExtensionsBuilder::new().add("x-mend-role", role.as_str()).build())),
        };
        paths = paths.path(e.path, PathItem::new(method, operation.build()));
    }
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .schema("Error", error_schema())
        .security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))));
    OpenApiBuilder::new()
        .info(InfoBuilder::new().title("mend").version(env!("CARGO_PKG_VERSION")).description(Some(
            "The repair desk for dissatisfied customers: intake, cases, the callback queue, compensation.",
        )))
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// The customers' survey page answers its errors as pages, in Chinese, never as JSON.
fn page_response() -> ResponseBuilder {
    ResponseBuilder::new()
        .description(
            "A page (HTML, zh-CN) that says why: a link not valid (404), run out or withdrawn (410), used (409)",
        )
        .content("text/html", ContentBuilder::new().build())
}

fn error_response() -> ResponseBuilder {
    ResponseBuilder::new()
        .description("The request was refused: `{\"error\": {\"code\", \"message\"}}`")
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
}

fn error_schema() -> RefOr<Schema> {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let inner =
        ObjectBuilder::new().property("code", text()).property("message", text()).required("code").required("message");
    ObjectBuilder::new().property("error", inner).required("error").into()
}

/// A property of a hand-written request schema: a type, and words.
fn property(kind: Type, description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(kind).description(described(description))
}

/// One of these words.
fn one_of(words: impl IntoIterator<Item = &'static str>, description: &str) -> ObjectBuilder {
    property(Type::String, description).enum_values(Some(words))
}

/// Registers a hand-written schema under `name`: the bodies read by other crates' types (or
/// by hand), which derive no schema.
fn named(schemas: &mut Schemas, name: &str, schema: ObjectBuilder) -> String {
    schemas.push((name.to_owned(), schema.into()));
    name.to_owned()
}

/// A role: one of its words.
pub(crate) fn role_words() -> ObjectBuilder {
    one_of(mend_core::Role::ALL.iter().map(|r| r.as_str()), "A role")
}

/// A kind of customer key: one of its words.
pub(crate) fn identity_kind_words() -> ObjectBuilder {
    one_of(mend_core::IdentityKind::ALL.iter().map(|k| k.as_str()), "A kind of customer key")
}

/// A temperament, or `null` to clear an agent's choice.
pub(crate) fn temperament_words() -> ObjectBuilder {
    let words = mend_core::Temperament::ALL.iter().map(|t| t.as_str());
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(words.map(Some).chain([None])))
        .description(Some("A temperament; `null` clears the choice and the scheduler infers it from the texts again"))
}

/// A value any of these types may carry (the parser reads each).
fn any_of(types: impl IntoIterator<Item = Type>, description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter(types)).description(described(description))
}

/// Words, unless there are none to say.
fn described(description: &str) -> Option<&str> {
    (!description.is_empty()).then_some(description)
}

/// The canonical complaint (DESIGN's contract), read by `mend-ingest`.
pub(crate) fn canonical_complaint(schemas: &mut Schemas) -> String {
    use Type::{Boolean, Integer, Null, String as Text};
    let text = |description: &str| any_of([Text, Null], description);
    let customer = ObjectBuilder::new()
        .property("phone", any_of([Text, Integer, Null], "Any common shape: +86, spaces, dashes"))
        .property("wechat_openid", text(""))
        .property("wechat_unionid", text(""))
        .property("member_id", any_of([Text, Integer, Null], ""))
        .property("bot_user_id", text(""))
        .property("name", text(""))
        .property("email", text(""))
        .description(Some("At least one key: phone, wechat_openid, wechat_unionid, member_id or bot_user_id"));
    let complaint = ObjectBuilder::new()
        .property("channel", one_of(mend_core::Channel::ALL.map(mend_core::Channel::as_str), "Where it was heard"))
        .property("source_id", any_of([Text, Integer], "The channel's own id of it: a repeated delivery is recognised"))
        .property("received_at", property(Text, "RFC 3339; a time without an offset is in app.default_timezone"))
        .property("customer", customer)
        .property("text", text("What the customer said"))
        .property("category", text("A taxonomy category, if the channel already knows it"))
        .property("satisfaction", any_of([Integer, Text, Null], "1 to 5 (or its words), if the customer gave one"))
        .property(
            "formal_complaint",
            any_of([Boolean, Integer, Text, Null], "A formal complaint (escalation risk): true/false, 1/0, 是/否"),
        )
        .required("channel")
        .required("source_id")
        .required("received_at")
        .required("customer");
    named(schemas, "CanonicalComplaint", complaint)
}

/// An offer of compensation (`mend_desk::CompensationRequest`).
pub(crate) fn compensation_request(schemas: &mut Schemas) -> String {
    let kinds = mend_core::CompensationKind::ALL.iter().map(|k| k.as_str());
    let offer = ObjectBuilder::new()
        .property("kind", one_of(kinds, "What is offered"))
        .property("amount_fen", property(Type::Integer, "Integer fen (100 fen = ¥1)"))
        .property("reason", property(Type::String, "Why (audited)"))
        .property("task_id", property(Type::String, "The call it was offered on, if any").format(Some(uuid_format())))
        .required("kind")
        .required("amount_fen")
        .required("reason")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    named(schemas, "CompensationRequest", offer)
}

/// How a call went (`mend_core::TaskOutcome`, no other field taken).
pub(crate) fn task_outcome(schemas: &mut Schemas) -> String {
    let results = mend_core::ContactResult::ALL.iter().map(|r| r.as_str());
    let outcome = ObjectBuilder::new()
        .property("outcome", one_of(results, "How the call went"))
        .property("resolved", property(Type::Boolean, "The customer says the problem is solved (reached only)"))
        .property("satisfaction_after", property(Type::Integer, "1 to 5, the customer's (reached only)"))
        .property("root_cause", property(Type::String, ""))
        .property("suggestion", property(Type::String, ""))
        .property("verify", property(Type::Boolean, "A verification call at the default delay"))
        .property("follow_up_hours", property(Type::Integer, "A follow-up call after this many hours (1 to 2160)"))
        .required("outcome")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    named(schemas, "TaskOutcome", outcome)
}

fn uuid_format() -> SchemaFormat {
    SchemaFormat::KnownFormat(KnownFormat::Uuid)
}

#[cfg(test)]
mod tests {
    /// The document names the fields a completion takes, as the route checks them.
    #[test]
    fn a_completion_is_documented_with_the_fields_it_takes() {
        let mut schemas = super::Schemas::new();
        let name = super::task_outcome(&mut schemas);
        let (_, schema) = schemas.iter().find(|(n, _)| *n == name).unwrap();
        let schema = serde_json::to_value(schema).unwrap();
        let mut documented: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        let mut taken = crate::routes::COMPLETION_FIELDS.to_vec();
        documented.sort_unstable();
        taken.sort_unstable();
        assert_eq!(documented, taken);
    }
}
