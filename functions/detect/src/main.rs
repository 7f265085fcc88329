//! Lambda `detect`: enriched Kinesis stream -> alerts stream, by fraud
//! detectors over per-user, per-card and per-IP state in the DynamoDB table
//! `EDDY_FRAUD_TABLE`; bad records to the S3 quarantine. Wiring only; the
//! logic is `eddy::fraud`.

use eddy::deadline::Deadline;
use eddy::fraud::{Detect, DetectConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = DetectConfig::from_env()?;
    let sdk = eddy::aws::load_config().await;
    let app = Detect::with_aws(config, &sdk)?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let deadline = Deadline::from_lambda_deadline_ms(event.context.deadline);
        app.handle(event.payload.get().as_bytes(), deadline).await.map_err(Error::from)
    }))
    .await
}
