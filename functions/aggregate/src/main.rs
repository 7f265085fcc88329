//! Lambda `aggregate`: enriched stream -> per-window reports (S3 `reports/` and
//! the reports stream) on tumbling windows; late events to S3 `late/`.
//! Wiring only; the logic is `eddy::window`.

use eddy::deadline::Deadline;
use eddy::window::{Aggregate, AggregateConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = AggregateConfig::from_env()?;
    let sdk = eddy::aws::load_config().await;
    let app = Aggregate::with_aws(config, &sdk)?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let deadline = Deadline::from_lambda_deadline_ms(event.context.deadline);
        app.handle(event.payload.get().as_bytes(), deadline).await.map_err(Error::from)
    }))
    .await
}
