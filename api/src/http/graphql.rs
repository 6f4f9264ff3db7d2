//! `POST /graphql`: resolves the caller, runs the operation, records its time.

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use async_graphql::ServerError;
use async_graphql_actix_web::GraphQLRequest;
use serde_json::json;

use super::log::GraphqlOutcome;
use crate::auth::{Caller, Principal};
use crate::cache::Dependencies;
use crate::error::ApiError;
use crate::graphql::loaders::Loaders;
use crate::graphql::{AppSchema, RequestContext};
use crate::http::multipart::{self, UploadDigests};
use crate::state::AppState;

/// Runs one GraphQL request with a JSON body.
pub async fn execute(
    req: HttpRequest,
    state: web::Data<AppState>,
    schema: web::Data<AppSchema>,
    body: Result<GraphQLRequest, actix_web::Error>,
) -> HttpResponse {
    // Who calls: a bad token ends the request here, never falls back to anonymous.
    let caller = match resolve_caller(&state, req.headers()).await {
        Ok(caller) => caller,
        Err(err) => return refuse(&req, err),
    };

    // What it asks.
    let request = match body {
        Ok(body) => body.into_inner(),
        Err(e) => {
            return refuse(
                &req,
                ApiError::bad_input(format!("request body is not a GraphQL request: {e}")),
            );
        }
    };
    run(
        req,
        state,
        schema,
        caller,
        request,
        UploadDigests::default(),
    )
    .await
}

/// Runs one GraphQL multipart request (an upload), read by [`multipart`]; the caller is
/// known before a byte of the body is spooled.
pub async fn execute_multipart(
    req: HttpRequest,
    state: web::Data<AppState>,
    schema: web::Data<AppSchema>,
    body: web::Payload,
) -> HttpResponse {
    let caller = match resolve_caller(&state, req.headers()).await {
        Ok(caller) => caller,
        Err(err) => return refuse(&req, err),
    };
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let limits = multipart::Limits {
        max_file_bytes: state.settings.max_upload_bytes,
        max_files: 1,
    };
    match multipart::receive(body, &content_type, limits).await {
        Ok((request, digests)) => run(req, state, schema, caller, request, digests).await,
        Err(err) => refuse(&req, err),
    }
}

/// Whether a request carries a multipart body (routed to [`execute_multipart`]).
pub fn is_multipart(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            // Every multipart type, not only form-data: async-graphql's own reader would
            // take the others, without this receiver's limits.
            ct.get(..10)
                .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"))
        })
}

/// Executes a received request for `caller`, through the response cache for queries.
async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    schema: web::Data<AppSchema>,
    caller: Caller,
    mut request: async_graphql::Request,
    digests: UploadDigests,
) -> HttpResponse {
    let operation = state
        .metrics
        .operation_label(operation_name(&request).as_deref());
    let started = Instant::now();

    // A query may be answered from the cache.
    let cache = state.cache.as_ref().filter(|_| is_query(&mut request));
    let mut pending = None;
    if let Some(cache) = cache {
        let variables = serde_json::to_vec(&request.variables).unwrap_or_default();
        let keys = cache.keys(
            &request.query,
            request.operation_name.as_deref(),
            &variables,
            &scope(&caller),
        );
        match cache.lookup(keys, &operation).await {
            Ok(body) => {
                state
                    .metrics
                    .graphql_duration
                    .with_label_values(&[&operation])
                    .observe(started.elapsed().as_secs_f64());
                req.extensions_mut().insert(GraphqlOutcome {
                    operation,
                    caller: caller.kind(),
                    outcome: "ok (cached)".into(),
                });
                return HttpResponse::Ok()
                    .content_type("application/json")
                    .body(body);
            }
            Err(p) => pending = p,
        }
    }

    // Run it with this request's caller and fresh dataloaders.
    let loaders = Loaders::new(
        &state.db,
        state.cache.as_ref(),
        &state.metrics,
        state.settings.dataloader_delay,
    );
    let deps = Arc::new(Dependencies::default());
    let request = request
        .data(RequestContext {
            caller: caller.clone(),
            loaders,
            deps: deps.clone(),
        })
        .data(digests);
    let mut response = schema.execute(request).await;
    state
        .metrics
        .graphql_duration
        .with_label_values(&[&operation])
        .observe(started.elapsed().as_secs_f64());
    if let (Some(cache), Some(pending)) = (cache, pending)
        && response.errors.is_empty()
    {
        match serde_json::to_vec(&response) {
            Ok(body) => {
                cache
                    .store(pending, &body, &deps, response.cache_control.public)
                    .await;
                req.extensions_mut().insert(GraphqlOutcome {
                    operation,
                    caller: caller.kind(),
                    outcome: "ok".into(),
                });
                return HttpResponse::Ok()
                    .content_type("application/json")
                    .body(body);
            }
            Err(e) => tracing::error!(error = %e, "cannot serialise a response"),
        }
    }

    // Every error carries a code: those async-graphql raises itself (syntax, validation,
    // argument coercion) are the client's input.
    for error in &mut response.errors {
        tag_uncoded(error);
    }
    let outcome = response
        .errors
        .first()
        .and_then(|e| {
            e.extensions
                .as_ref()?
                .get("code")
                .map(|c| c.to_string().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "ok".to_owned());
    req.extensions_mut().insert(GraphqlOutcome {
        operation,
        caller: caller.kind(),
        outcome,
    });
    HttpResponse::Ok().json(&response)
}

/// Whether the request is a query (parsed here once; execution reuses the parse).
fn is_query(request: &mut async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};

    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return false;
    };
    let ty = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name.as_str()).map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    };
    ty == Some(OperationType::Query)
}

/// The cache scope of a caller: anonymous callers share one, everyone else has its own.
fn scope(caller: &Caller) -> String {
    match caller {
        Caller::Anonymous => "anonymous".to_owned(),
        Caller::Authenticated(p) => {
            format!("{}:{}", crate::auth::jwt::role_name(p.role), p.subject)
        }
    }
}

/// Sets `BAD_USER_INPUT` on an error that has no code.
fn tag_uncoded(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|x| x.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "BAD_USER_INPUT");
    }
}

/// The caller of a request: anonymous without `Authorization`, else a verified token whose
/// subject has a user row.
pub(super) async fn resolve_caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("Authorization header is not text".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthenticated("Authorization must be 'Bearer <token>'".into())
        })?;
    Ok(caller_from_token(state, token).await?.0)
}

/// The caller a bearer token names, and when the token expires.
pub(super) async fn caller_from_token(
    state: &AppState,
    token: &str,
) -> Result<(Caller, chrono::DateTime<chrono::Utc>), ApiError> {
    let identity = state.verifier.verify(token)?;
    let user_id = state
        .users
        .ensure(&state.db, &identity.subject, identity.role)
        .await?;
    let caller = Caller::Authenticated(Principal {
        user_id,
        subject: identity.subject,
        role: identity.role,
    });
    Ok((caller, identity.expires_at))
}

/// A whole-request failure as a GraphQL error body with its HTTP status.
fn refuse(req: &HttpRequest, err: ApiError) -> HttpResponse {
    req.extensions_mut().insert(GraphqlOutcome {
        operation: "-".into(),
        caller: "-",
        outcome: err.code().into(),
    });
    let mut response = HttpResponse::build(err.status());
    if matches!(err, ApiError::Unauthenticated(_)) {
        response.insert_header((WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
    }
    response.json(json!({
        "data": null,
        "errors": [{"message": err.message(), "extensions": {"code": err.code()}}],
    }))
}

/// The operation's name: the one asked for, else the name of the document's first
/// operation.
fn operation_name(request: &async_graphql::Request) -> Option<String> {
    if let Some(name) = &request.operation_name {
        return Some(name.clone());
    }
    let text = request.query.trim_start();
    let rest = ["query", "mutation", "subscription"]
        .iter()
        .find_map(|kw| text.strip_prefix(kw))?;
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_name_comes_from_the_document_when_not_given() {
        let named = async_graphql::Request::new("query Library($n: Int) { me { id } }");
        let anonymous = async_graphql::Request::new("{ me { id } }");

        assert_eq!(operation_name(&named).as_deref(), Some("Library"));
        assert_eq!(operation_name(&anonymous), None);
    }
}
