//! The `updates` function: the routes of `Job::Updates`, on DynamoDB. It hands out bundle
//! URLs and never touches the bytes, so it signs them without an S3 client (1 MiB less code).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    updraft_lambda::run(
        &[updraft_core::Job::Updates],
        updraft_lambda::downloads,
        updraft_lambda::no_webhooks,
    )
    .await
}
