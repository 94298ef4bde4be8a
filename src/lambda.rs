//! AWS Lambda custom runtime: installed as `bootstrap` on `provided.al2023`, the binary asks
//! the runtime API for the next invocation, runs one cycle, and answers with the summary or
//! an error. A warm environment keeps credentials, hosts and unposted points between
//! invocations; the first one reads the back-fill window.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::Http;
use crate::session::{Keep, Session};
use serde_json::{Map, Value, json};

/// `Lambda-Runtime-Function-Error-Type` of a failed cycle and of a bad configuration.
const CYCLE_FAILED: &str = "Cw2mackerel.CycleFailed";
const CONFIG_ERROR: &str = "Cw2mackerel.ConfigError";

fn base(api: &str) -> String {
    format!("http://{api}/2018-06-01/runtime")
}

/// Serves invocations until the runtime API fails (Lambda then restarts the environment).
pub fn serve(cfg: &Config, api: &str) -> Result<()> {
    let http = Http::new(cfg.timeout);
    let mut session = Session::new(cfg, &http, Keep::Nothing);
    let base = base(api);
    let mut lookback = cfg.backfill.max(cfg.lookback);
    loop {
        let next = send(
            &http,
            "GET",
            &format!("{base}/invocation/next"),
            None,
            Vec::new(),
        )?;
        let id = next
            .header("lambda-runtime-aws-request-id")
            .ok_or_else(|| {
                Error::runtime("the Lambda runtime API sent an invocation without a request id")
            })?
            .to_string();
        let (result, fields) = session.cycle("invocation", lookback);
        lookback = cfg.lookback;
        match result {
            Ok(()) => {
                let mut body: Map<String, Value> = fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                body.insert("status".into(), json!("ok"));
                send(
                    &http,
                    "POST",
                    &format!("{base}/invocation/{id}/response"),
                    None,
                    Value::Object(body).to_string().into_bytes(),
                )?;
            }
            Err(e) => {
                let body =
                    json!({"errorMessage": e.message(), "errorType": CYCLE_FAILED}).to_string();
                send(
                    &http,
                    "POST",
                    &format!("{base}/invocation/{id}/error"),
                    Some(CYCLE_FAILED),
                    body.into_bytes(),
                )?;
            }
        }
    }
}

/// Reports a configuration that cannot start to `/runtime/init/error`.
pub fn init_error(api: &str, e: &Error) {
    let body = json!({"errorMessage": e.message(), "errorType": CONFIG_ERROR}).to_string();
    let http = Http::new(std::time::Duration::from_secs(5));
    if let Err(report) = send(
        &http,
        "POST",
        &format!("{}/init/error", base(api)),
        Some(CONFIG_ERROR),
        body.into_bytes(),
    ) {
        crate::log::error(
            "could not report the init error to Lambda",
            &[("error", json!(report.message()))],
        );
    }
}

fn send(
    http: &Http,
    method: &str,
    url: &str,
    error_type: Option<&str>,
    body: Vec<u8>,
) -> Result<crate::http::Reply> {
    let mut req = ::http::Request::builder().method(method).uri(url);
    if let Some(t) = error_type {
        req = req.header("lambda-runtime-function-error-type", t);
    }
    let req = req
        .body(body)
        .map_err(|e| Error::runtime(format!("Lambda runtime API: {e}")))?;
    let reply = http
        .send_local(req)
        .map_err(|e| Error::runtime(format!("Lambda runtime API {url}: {e}")))?;
    if !reply.ok() {
        return Err(Error::runtime(format!(
            "Lambda runtime API {url} answered HTTP {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
                .chars()
                .take(200)
                .collect::<String>()
        )));
    }
    Ok(reply)
}
