//! The ceiling of this machine for the benchmark: an actix-web server, with as many
//! workers as wavegate, that answers every POST with the same bytes from memory.
//!
//! `cargo run --release --example static_ceiling -- <body file> <address>`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool fails loudly"
)]

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .expect("usage: static_ceiling <body file> <address>");
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let body = web::Bytes::from(std::fs::read(&file)?);
    println!("serving {} bytes on {addr}", body.len());

    HttpServer::new(move || {
        let body = body.clone();
        App::new().default_service(web::to(move || {
            let body = body.clone();
            async move {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(body)
            }
        }))
    })
    .bind(addr)?
    .run()
    .await
}
