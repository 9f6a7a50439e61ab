//! The start-up yardstick: the smallest `lambda_http` function, built with the same profile.
//!   cargo build --release -p updraft-lambda --example hello

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_: Request| async {
        Ok::<_, Error>(Response::new(Body::from("hello")))
    }))
    .await
}
