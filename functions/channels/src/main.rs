//! The `channels` function: the routes of `Job::Channels`, on DynamoDB. None of them touches
//! bundle storage, so it links the URL signer rather than the S3 client (1 MiB less code).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    updraft_lambda::run(
        &[updraft_core::Job::Channels],
        updraft_lambda::downloads,
        updraft_lambda::webhooks,
    )
    .await
}
