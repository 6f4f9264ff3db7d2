//! `POST /graphql`: resolves the caller, runs the operation, records its time.

use std::time::Instant;

use actix_web::http::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use async_graphql::ServerError;
use async_graphql_actix_web::GraphQLRequest;
use serde_json::json;

use super::log::GraphqlOutcome;
use crate::auth::{Caller, Principal};
use crate::error::ApiError;
use crate::graphql::loaders::Loaders;
use crate::graphql::{AppSchema, RequestContext};
use crate::state::AppState;

/// Runs one GraphQL request.
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
    let operation = state
        .metrics
        .operation_label(operation_name(&request).as_deref());

    // Run it with this request's caller and fresh dataloaders.
    let started = Instant::now();
    let loaders = Loaders::new(&state.db, &state.metrics, state.settings.dataloader_delay);
    let request = request.data(RequestContext {
        caller: caller.clone(),
        loaders,
    });
    let mut response = schema.execute(request).await;
    state
        .metrics
        .graphql_duration
        .with_label_values(&[&operation])
        .observe(started.elapsed().as_secs_f64());

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
async fn resolve_caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
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
    let identity = state.verifier.verify(token)?;
    let user_id = state
        .users
        .ensure(&state.db, &identity.subject, identity.role)
        .await?;
    Ok(Caller::Authenticated(Principal {
        user_id,
        subject: identity.subject,
        role: identity.role,
    }))
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
