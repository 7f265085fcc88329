//! A fault-injecting HTTP/1.1 reverse proxy between the functions and
//! LocalStack, so the tests can make the services fail the way they do in AWS.
//!
//! For Kinesis `PutRecords` and Firehose `PutRecordBatch` (recognised by their
//! `X-Amz-Target`; the Rust SDK speaks JSON 1.1 to both), it removes a seeded
//! share of the entries before forwarding the request, and answers a 200 whose
//! result list holds a synthetic error (`ProvisionedThroughputExceededException`
//! / `ServiceUnavailableException`) at the removed positions and LocalStack's
//! real result elsewhere, with the matching `FailedRecordCount` /
//! `FailedPutCount`. Removed entries never reach LocalStack, so a record that
//! shows up twice downstream was really sent twice. A share of whole put
//! requests is answered `400 ThrottlingException` or `503` without being
//! forwarded (always the first and the second put request, when those faults
//! are planned, so that every run sees them). Every other request is
//! forwarded as it is.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What to break, and how often.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultPlan {
    /// Seed of the choices.
    pub seed: u64,
    /// Share of Kinesis put entries failed inside a 200 response.
    pub entry_failure: f64,
    /// The first this many Firehose put requests fail every entry: archive
    /// packs a batch's lines into a few entries, so chance alone rarely keeps
    /// one failing until the deadline; this does, in every run.
    pub firehose_failing_requests: u64,
    /// Share of put requests answered 400 ThrottlingException.
    pub throttle: f64,
    /// Share of put requests answered 503 ServiceUnavailable.
    pub unavailable: f64,
}

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests seen.
    pub requests: u64,
    /// PutRecords / PutRecordBatch requests seen.
    pub put_requests: u64,
    /// Entries in those requests.
    pub entries: u64,
    /// Entries failed by the proxy (never forwarded).
    pub entries_failed: u64,
    /// Entries forwarded to LocalStack.
    pub entries_forwarded: u64,
    /// Put requests answered 400 ThrottlingException.
    pub throttled: u64,
    /// Put requests answered 503.
    pub unavailable: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    put_requests: AtomicU64,
    entries: AtomicU64,
    entries_failed: AtomicU64,
    entries_forwarded: AtomicU64,
    firehose_puts: AtomicU64,
    throttled: AtomicU64,
    unavailable: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> FaultStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FaultStats {
            requests: get(&self.requests),
            put_requests: get(&self.put_requests),
            entries: get(&self.entries),
            entries_failed: get(&self.entries_failed),
            entries_forwarded: get(&self.entries_forwarded),
            throttled: get(&self.throttled),
            unavailable: get(&self.unavailable),
        }
    }
}

/// The put APIs the proxy breaks, and the shape of their JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PutApi {
    KinesisPutRecords,
    FirehosePutRecordBatch,
}

impl PutApi {
    fn of(target: &str) -> Option<Self> {
        match target.rsplit('.').next() {
            Some("PutRecords") if target.starts_with("Kinesis_") => Some(Self::KinesisPutRecords),
            Some("PutRecordBatch") if target.starts_with("Firehose_") => Some(Self::FirehosePutRecordBatch),
            _ => None,
        }
    }

    /// The response's list of per-entry results.
    fn results_key(self) -> &'static str {
        match self {
            Self::KinesisPutRecords => "Records",
            Self::FirehosePutRecordBatch => "RequestResponses",
        }
    }

    fn failed_count_key(self) -> &'static str {
        match self {
            Self::KinesisPutRecords => "FailedRecordCount",
            Self::FirehosePutRecordBatch => "FailedPutCount",
        }
    }

    fn entry_error(self) -> Value {
        match self {
            Self::KinesisPutRecords => json!({
                "ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": "Rate exceeded for shard (fault proxy)",
            }),
            Self::FirehosePutRecordBatch => json!({
                "ErrorCode": "ServiceUnavailableException",
                "ErrorMessage": "Slow down (fault proxy)",
            }),
        }
    }
}

struct Proxy {
    upstream: String,
    /// Other upstreams, by `X-Amz-Target` prefix (DynamoDB is moto, not LocalStack).
    routes: Vec<(String, String)>,
    plan: FaultPlan,
    rng: Mutex<fastrand::Rng>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    counters: Counters,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    /// Its URL (`http://127.0.0.1:PORT`): the endpoint to give the functions.
    pub url: String,
    proxy: Arc<Proxy>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `upstream` (e.g.
    /// `http://127.0.0.1:4566`), sending requests whose `X-Amz-Target` starts
    /// with a route's prefix to the route's upstream instead (e.g. `DynamoDB_` to moto).
    pub async fn start(upstream: &str, routes: &[(&str, &str)], plan: FaultPlan) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let proxy = Arc::new(Proxy {
            upstream: upstream.trim_end_matches('/').to_string(),
            routes: routes.iter().map(|(p, u)| (p.to_string(), u.trim_end_matches('/').to_string())).collect(),
            plan,
            rng: Mutex::new(fastrand::Rng::with_seed(plan.seed)),
            client: Client::builder(TokioExecutor::new()).build_http(),
            counters: Counters::default(),
        });
        let task = tokio::spawn(accept(listener, proxy.clone()));
        Ok(Self { url: format!("http://{addr}"), proxy, task })
    }

    /// What it did so far.
    pub fn stats(&self) -> FaultStats {
        self.proxy.counters.snapshot()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, proxy: Arc<Proxy>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.handle(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_error(status: StatusCode, kind: &'static str, message: &str) -> Reply {
    let body = json!({ "__type": kind, "message": message }).to_string().into_bytes();
    let mut response = reply(status, body, "application/x-amz-json-1.1");
    response.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
    response
}

impl Proxy {
    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().unwrap_or_else(|e| e.into_inner()).f64() < p
    }

    async fn handle(&self, request: Request<Incoming>) -> Reply {
        Counters::add(&self.counters.requests, 1);
        let (parts, body) = request.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return json_error(StatusCode::BAD_REQUEST, "ProxyError", &e.to_string()),
        };
        let api = parts.headers.get("x-amz-target").and_then(|t| t.to_str().ok()).and_then(PutApi::of);
        match api {
            Some(api) => self.put(api, parts, body).await,
            None => self.forward(parts, body).await.unwrap_or_else(|e| e),
        }
    }

    /// A put request: throttled, or forwarded with a share of its entries taken out.
    async fn put(&self, api: PutApi, parts: hyper::http::request::Parts, body: Bytes) -> Reply {
        let n = self.counters.put_requests.fetch_add(1, Ordering::Relaxed);
        // the first put request is throttled and the second fails when those faults are planned,
        // so that every run sees each of them; then they come by chance
        let first = |k, p: f64| n == k && p > 0.0;
        if first(0, self.plan.throttle) || self.chance(self.plan.throttle) {
            Counters::add(&self.counters.throttled, 1);
            return json_error(StatusCode::BAD_REQUEST, "ThrottlingException", "Rate exceeded (fault proxy)");
        }
        if first(1, self.plan.unavailable) || self.chance(self.plan.unavailable) {
            Counters::add(&self.counters.unavailable, 1);
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableException", "(fault proxy)");
        }
        let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
            return self.forward(parts, body).await.unwrap_or_else(|e| e);
        };
        let entries = request["Records"].as_array().cloned().unwrap_or_default();
        let all_fail = api == PutApi::FirehosePutRecordBatch
            && self.counters.firehose_puts.fetch_add(1, Ordering::Relaxed) < self.plan.firehose_failing_requests;
        let failed: Vec<bool> = entries.iter().map(|_| all_fail || self.chance(self.plan.entry_failure)).collect();
        let kept: Vec<Value> = entries.iter().zip(&failed).filter(|(_, f)| !**f).map(|(e, _)| e.clone()).collect();
        Counters::add(&self.counters.entries, entries.len() as u64);
        Counters::add(&self.counters.entries_failed, failed.iter().filter(|f| **f).count() as u64);
        let upstream_results = if kept.is_empty() {
            Vec::new()
        } else {
            request["Records"] = Value::Array(kept.clone());
            let body = Bytes::from(request.to_string());
            let response = match self.forward(parts, body).await {
                Ok(response) => response,
                Err(error) => return error,
            };
            if response.status() != StatusCode::OK {
                return response;
            }
            Counters::add(&self.counters.entries_forwarded, kept.len() as u64);
            let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            answer[api.results_key()].as_array().cloned().unwrap_or_default()
        };
        let mut upstream = upstream_results.into_iter();
        let results: Vec<Value> = failed
            .iter()
            .map(|&f| if f { api.entry_error() } else { upstream.next().unwrap_or_else(|| api.entry_error()) })
            .collect();
        let failed_count = results.iter().filter(|r| r.get("ErrorCode").is_some_and(|c| !c.is_null())).count();
        let mut answer = json!({ api.results_key(): results, api.failed_count_key(): failed_count });
        if api == PutApi::FirehosePutRecordBatch {
            answer["Encrypted"] = Value::Bool(false);
        }
        reply(StatusCode::OK, answer.to_string().into_bytes(), "application/x-amz-json-1.1")
    }

    /// Where a request goes: the route its `X-Amz-Target` starts with, else LocalStack.
    fn upstream_of(&self, parts: &hyper::http::request::Parts) -> &str {
        let target = parts.headers.get("x-amz-target").and_then(|t| t.to_str().ok()).unwrap_or("");
        self.routes.iter().find(|(prefix, _)| target.starts_with(prefix.as_str())).map_or(&self.upstream, |(_, u)| u)
    }

    /// Sends the request on to its upstream as it is (but for its body and length).
    async fn forward(&self, parts: hyper::http::request::Parts, body: Bytes) -> Result<Reply, Reply> {
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let uri: hyper::Uri =
            format!("{}{path}", self.upstream_of(&parts)).parse().map_err(|e: hyper::http::uri::InvalidUri| {
                json_error(StatusCode::BAD_GATEWAY, "ProxyError", &e.to_string())
            })?;
        let mut request = Request::builder().method(parts.method).uri(uri);
        for (name, value) in &parts.headers {
            if name != HOST && name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
                request = request.header(name, value);
            }
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| json_error(StatusCode::BAD_GATEWAY, "ProxyError", &e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| json_error(StatusCode::BAD_GATEWAY, "ProxyError", &e.to_string()))?;
        let (mut head, body) = response.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        head.headers.remove(TRANSFER_ENCODING);
        head.headers.remove(CONTENT_LENGTH);
        Ok(Response::from_parts(head, Full::new(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// An upstream answering PutRecords with a result per entry it got, counting them.
    async fn fake_upstream(name: &'static str, got: Arc<AtomicUsize>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let got = got.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let got = got.clone();
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let n = request["Records"].as_array().map_or(0, Vec::len);
                            got.fetch_add(n, Ordering::SeqCst);
                            let results: Vec<Value> = (0..n)
                                .map(|i| json!({"SequenceNumber": format!("{name}{i}"), "ShardId": "s"}))
                                .collect();
                            let answer = json!({"FailedRecordCount": 0, "Records": results}).to_string();
                            Ok::<_, Infallible>(reply(
                                StatusCode::OK,
                                answer.into_bytes(),
                                "application/x-amz-json-1.1",
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        url
    }

    async fn put_records(url: &str, target: &str, n: usize) -> Value {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let records: Vec<Value> = (0..n).map(|i| json!({"Data": "eA==", "PartitionKey": format!("k{i}")})).collect();
        let body = json!({"StreamName": "s", "Records": records}).to_string();
        let request =
            Request::post(format!("{url}/")).header("x-amz-target", target).body(Full::new(Bytes::from(body))).unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
    }

    #[tokio::test]
    async fn given_a_failure_share_then_failed_entries_are_never_forwarded_and_the_answer_names_them() {
        let (localstack, moto) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let upstream = fake_upstream("ls", localstack.clone()).await;
        let dynamodb = fake_upstream("moto", moto.clone()).await;
        let plan =
            FaultPlan { seed: 3, entry_failure: 0.5, firehose_failing_requests: 0, throttle: 0.0, unavailable: 0.0 };
        let proxy = FaultProxy::start(&upstream, &[("DynamoDB_", &dynamodb)], plan).await.unwrap();

        let answer = put_records(&proxy.url, "Kinesis_20131202.PutRecords", 40).await;
        let results = answer["Records"].as_array().unwrap();
        let failed: Vec<usize> = (0..40).filter(|&i| results[i].get("ErrorCode").is_some()).collect();
        assert_eq!(answer["FailedRecordCount"], failed.len());
        assert!((8..=32).contains(&failed.len()), "about half: {}", failed.len());
        assert_eq!(localstack.load(Ordering::SeqCst), 40 - failed.len(), "failed entries are not forwarded");
        let stats = proxy.stats();
        assert_eq!(
            (stats.entries, stats.entries_failed, stats.entries_forwarded),
            (40, failed.len() as u64, 40 - failed.len() as u64)
        );
        // the kept entries get the upstream's results, in order
        let kept: Vec<&str> = results.iter().filter_map(|r| r["SequenceNumber"].as_str()).collect();
        assert_eq!(kept, (0..40 - failed.len()).map(|i| format!("ls{i}")).collect::<Vec<_>>());
        // other targets pass through, to their route
        let answer = put_records(&proxy.url, "DynamoDB_20120810.BatchWriteItem", 3).await;
        assert_eq!(answer["FailedRecordCount"], 0);
        assert_eq!(moto.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn given_throttles_and_unavailability_planned_then_the_first_two_put_requests_get_them() {
        let upstream = fake_upstream("ls", Arc::new(AtomicUsize::new(0))).await;
        let plan =
            FaultPlan { seed: 1, entry_failure: 0.0, firehose_failing_requests: 0, throttle: 0.01, unavailable: 0.01 };
        let proxy = FaultProxy::start(&upstream, &[], plan).await.unwrap();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let request = Request::post(format!("{}/", proxy.url))
                .header("x-amz-target", "Firehose_20150804.PutRecordBatch")
                .body(Full::new(Bytes::from(r#"{"Records":[{"Data":"eA=="}]}"#)))
                .unwrap();
            let response = client.request(request).await.unwrap();
            statuses.push((response.status(), response.headers().get("x-amzn-ErrorType").cloned()));
        }
        assert_eq!(statuses[0].0, StatusCode::BAD_REQUEST);
        assert_eq!(statuses[0].1.as_ref().unwrap(), "ThrottlingException");
        assert_eq!(statuses[1].0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((proxy.stats().throttled, proxy.stats().unavailable), (1, 1));
    }
}
