//! The workbench's stylesheet and script, built into the binary: no front-end build, no server
//! besides `mend serve`.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: [(&str, &str, &str); 3] = [
    ("app.css", "text/css; charset=utf-8", include_str!("../../assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../assets/app.js")),
    ("favicon.svg", "image/svg+xml", include_str!("../../assets/favicon.svg")),
];

pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, content_type, body)) = FILES.iter().find(|(name, _, _)| *name == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut response = (*body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Short: a new binary may bring a new script, and pages do not version their links.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
