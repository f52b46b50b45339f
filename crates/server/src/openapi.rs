//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, built from the same endpoint list as the
//! router, so a route cannot exist without being described. Each operation says who may call
//! it (its security and `x-mend-role`) and that errors come as `{"error": {"code", "message"}}`.

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder, Schema, Type,
};

use crate::auth::SESSION_COOKIE;
use crate::routes::{Access, endpoints};

pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
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
