//! The `updates` function: the routes of `Job::Updates`, on DynamoDB and S3.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    updraft_lambda::run(&[updraft_core::Job::Updates]).await
}
