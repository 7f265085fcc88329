//! Lambda `filter`: enriched Kinesis stream -> alerts stream, by the rules in
//! `EDDY_RULES_FILE` (compiled once, at init); bad records to the S3
//! quarantine. Wiring only; the logic is `eddy::rules`.

use eddy::deadline::Deadline;
use eddy::rules::{Filter, FilterConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = FilterConfig::from_env()?;
    let sdk = eddy::aws::load_config().await;
    let app = Filter::with_aws(&config, &sdk)?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let deadline = Deadline::from_lambda_deadline_ms(event.context.deadline);
        app.handle(event.payload.get().as_bytes(), deadline).await.map_err(Error::from)
    }))
    .await
}
