//! Lambda `enrich`: raw Kinesis stream -> the `enriched` stream (geo, user agent,
//! service catalog, normalised time and ids); bad records to the S3 quarantine.
//! Wiring only; the logic is `eddy::enrich`.

use eddy::deadline::Deadline;
use eddy::enrich::{Enrich, EnrichConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = EnrichConfig::from_env()?;
    let sdk = eddy::aws::load_config().await;
    // geo databases and the service catalog are read (from S3 if so configured) once, here
    let app = Enrich::with_aws(&config, &sdk).await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let deadline = Deadline::from_lambda_deadline_ms(event.context.deadline);
        app.handle(event.payload.get().as_bytes(), deadline).await.map_err(Error::from)
    }))
    .await
}
