//! The `uploads` function: the routes of `Job::Uploads`, on DynamoDB and S3.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    updraft_lambda::run(
        &[updraft_core::Job::Uploads],
        updraft_lambda::s3,
        updraft_lambda::no_webhooks,
    )
    .await
}
