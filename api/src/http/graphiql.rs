//! GraphiQL, served from the binary with its assets embedded, so it works offline.
//!
//! The assets are the UMD builds of GraphiQL 3 and React 18 (see
//! `api/assets/graphiql/LICENSES.md`).

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{HttpResponse, web};

/// An embedded file: name, MIME type, bytes.
struct Asset(&'static str, &'static str, &'static [u8]);

const INDEX: &str = include_str!("../../assets/graphiql/index.html");

const ASSETS: &[Asset] = &[
    Asset(
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    Asset(
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    Asset(
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    Asset(
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
];

/// `GET /graphql`: the GraphiQL page.
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(INDEX)
}

/// `GET /graphql/assets/{name}`: one embedded asset, cacheable for a day.
pub async fn asset(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.0 == name.as_str()) {
        Some(Asset(_, mime, bytes)) => HttpResponse::Ok()
            .insert_header((actix_web::http::header::CONTENT_TYPE, *mime))
            .insert_header(CacheControl(vec![
                CacheDirective::Public,
                CacheDirective::MaxAge(86_400),
            ]))
            .body(*bytes),
        None => HttpResponse::NotFound().finish(),
    }
}
