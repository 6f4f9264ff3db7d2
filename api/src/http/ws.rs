//! `GET /graphql/ws`: subscriptions over the graphql-transport-ws protocol.
//!
//! The caller is authenticated in `connection_init`: its payload carries the token as
//! `Authorization` / `authorization` (`Bearer <token>`), as `headers.Authorization`, or as
//! `token`; without one, an `Authorization` header on the upgrade request counts, and
//! with neither the connection is anonymous. A bad token refuses the connection (close
//! code 4403). When the token expires the server closes the connection (4403, "token
//! expired"): the client reconnects with a fresh token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::header::{AUTHORIZATION, HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::Data;
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::graphql::caller_from_token;
use crate::auth::Caller;
use crate::cache::Dependencies;
use crate::error::ApiError;
use crate::graphql::loaders::Loaders;
use crate::graphql::{AppSchema, RequestContext};
use crate::state::AppState;

/// Close code for a refused or expired token (as graphql-transport-ws uses for a refused
/// `connection_init`).
const CLOSE_FORBIDDEN: u16 = 4403;
/// Messages from the client queued before the protocol handler reads them.
const INBOX: usize = 64;

/// Upgrades the request and serves subscriptions on it until either side closes.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    schema: web::Data<AppSchema>,
) -> actix_web::Result<HttpResponse> {
    // The one protocol spoken here.
    let offered = req
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !offered
        .split(',')
        .any(|p| p.trim() == "graphql-transport-ws")
    {
        return Ok(HttpResponse::BadRequest()
            .body("subscriptions need the graphql-transport-ws WebSocket subprotocol"));
    }
    let header_token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let (mut response, session, mut incoming) = actix_ws::handle(&req, body)?;
    response.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("graphql-transport-ws"),
    );

    // Client frames: text goes to the protocol handler, pings are answered here.
    let (inbox, messages) = tokio::sync::mpsc::channel::<Vec<u8>>(INBOX);
    let mut pong = session.clone();
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = incoming.next().await {
            let open = match msg {
                actix_ws::Message::Text(text) => inbox.send(text.as_bytes().to_vec()).await.is_ok(),
                actix_ws::Message::Binary(bytes) => inbox.send(bytes.to_vec()).await.is_ok(),
                actix_ws::Message::Ping(bytes) => pong.pong(&bytes).await.is_ok(),
                actix_ws::Message::Close(_) => false,
                _ => true,
            };
            if !open {
                break;
            }
        }
    });

    // `connection_init` decides the caller and when the connection must end.
    let expiry: Arc<Mutex<Option<DateTime<Utc>>>> = Arc::default();
    let refused = Arc::new(AtomicBool::new(false));
    let init_state = state.get_ref().clone();
    let init_expiry = expiry.clone();
    let init_refused = refused.clone();
    let on_init = move |payload: serde_json::Value| async move {
        let token = token_in(&payload).or(header_token);
        let (caller, expires_at) = match token {
            None => (Caller::Anonymous, None),
            Some(raw) => {
                let token = raw
                    .strip_prefix("Bearer ")
                    .or_else(|| raw.strip_prefix("bearer "))
                    .unwrap_or(&raw)
                    .trim();
                let (caller, at) =
                    caller_from_token(&init_state, token)
                        .await
                        .map_err(|e: ApiError| {
                            init_refused.store(true, Ordering::SeqCst);
                            async_graphql::Error::new(e.message())
                        })?;
                (caller, Some(at))
            }
        };
        if let Ok(mut slot) = init_expiry.lock() {
            *slot = expires_at;
        }
        let mut data = Data::default();
        data.insert(RequestContext {
            caller,
            loaders: Loaders::new(
                &init_state.db,
                init_state.cache.as_ref(),
                &init_state.metrics,
                init_state.settings.dataloader_delay,
            ),
            deps: Arc::new(Dependencies::default()),
        });
        Ok(data)
    };

    let protocol = WebSocketProtocols::GraphQLWS;
    let mut stream = WebSocket::new(
        schema.get_ref().clone(),
        tokio_stream_of(messages),
        protocol,
    )
    .on_connection_init(on_init);
    let mut session = session;
    actix_web::rt::spawn(async move {
        let mut check = tokio::time::interval(std::time::Duration::from_millis(250));
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(WsMessage::Text(text)) => {
                        if session.text(text).await.is_err() {
                            return;
                        }
                    }
                    Some(WsMessage::Close(code, reason)) => {
                        // A refused token is "forbidden", as graphql-ws clients expect.
                        let code = if refused.load(Ordering::SeqCst) { CLOSE_FORBIDDEN } else { code };
                        let _ = session.close(Some(close_reason(code, reason))).await;
                        return;
                    }
                    None => {
                        let _ = session.close(None).await;
                        return;
                    }
                },
                _ = check.tick() => {
                    let expired = expiry
                        .lock()
                        .map(|at| at.is_some_and(|at| at <= Utc::now()))
                        .unwrap_or(false);
                    if expired {
                        let _ = session
                            .close(Some(close_reason(CLOSE_FORBIDDEN, "token expired".into())))
                            .await;
                        return;
                    }
                }
            }
        }
    });
    Ok(response)
}

/// The token a `connection_init` payload carries, in any of the usual places.
fn token_in(payload: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(text)
        .or_else(|| {
            let headers = payload.get("headers")?;
            headers
                .get("Authorization")
                .or_else(|| headers.get("authorization"))
                .and_then(text)
        })
        .or_else(|| payload.get("token").and_then(text))
}

fn close_reason(code: u16, description: String) -> actix_ws::CloseReason {
    actix_ws::CloseReason {
        code: actix_ws::CloseCode::Other(code),
        description: Some(description),
    }
}

/// The receiving end of a channel as a stream.
fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
) -> impl futures::Stream<Item = Vec<u8>> + Unpin {
    Box::pin(async_stream::stream! {
        while let Some(item) = rx.recv().await {
            yield item;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_where_clients_put_them() {
        let apollo = serde_json::json!({"authorization": "Bearer a"});
        let headers = serde_json::json!({"headers": {"Authorization": "Bearer b"}});
        let bare = serde_json::json!({"token": "c"});

        assert_eq!(token_in(&apollo).as_deref(), Some("Bearer a"));
        assert_eq!(token_in(&headers).as_deref(), Some("Bearer b"));
        assert_eq!(token_in(&bare).as_deref(), Some("c"));
        assert_eq!(token_in(&serde_json::json!({})), None);
    }
}
