//! A recorded-HTTP stand-in: serves the answers of an `http-traffic.json` (the AWS SDKs'
//! recordings of a credential lookup) in order, on loopback, one connection per request, and
//! notes where the requests it gets differ from the recorded ones (method, path and query,
//! the query-protocol `Action`, and which of the headers that matter are present).

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Headers whose presence (not value) each request must share with its recording: the
/// signature, the session token, and IMDSv2's token and its TTL.
const HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-security-token",
    "x-aws-ec2-metadata-token",
    "x-aws-ec2-metadata-token-ttl-seconds",
];

/// One recorded request and the answer it got.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// The whole URI the SDK asked for (`https://sts.us-east-1.amazonaws.com/`).
    pub uri: String,
    headers: Vec<String>,
    body: String,
    status: u16,
    answer_headers: Vec<(String, String)>,
    answer: String,
}

impl Exchange {
    /// The recorded answer's body.
    pub fn answer(&self) -> &str {
        &self.answer
    }
}

/// The exchanges of an `http-traffic.json`, in order.
pub fn exchanges(traffic: &Value) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    for event in traffic["events"].as_array().into_iter().flatten() {
        let action = &event["action"];
        if let Some(r) = action.get("Request") {
            let r = &r["request"];
            out.push(Exchange {
                method: r["method"].as_str().unwrap_or_default().into(),
                uri: r["uri"].as_str().unwrap_or_default().into(),
                headers: r["headers"]
                    .as_object()
                    .map(|h| h.keys().map(|k| k.to_ascii_lowercase()).collect())
                    .unwrap_or_default(),
                body: String::new(),
                status: 0,
                answer_headers: Vec::new(),
                answer: String::new(),
            });
        } else if let (Some(r), Some(last)) = (action.get("Response"), out.last_mut()) {
            let ok = &r["response"]["Ok"];
            last.status = ok["status"].as_u64().unwrap_or(500) as u16;
            for (k, v) in ok["headers"].as_object().into_iter().flatten() {
                if !["content-length", "transfer-encoding", "connection"].contains(&k.as_str()) {
                    let v = v[0].as_str().unwrap_or_default();
                    last.answer_headers.push((k.clone(), v.into()));
                }
            }
        } else if let (Some(d), Some(last)) = (action.get("Data"), out.last_mut()) {
            let text = d["data"]["Utf8"].as_str().unwrap_or_default();
            match d["direction"].as_str() {
                Some("Request") => last.body.push_str(text),
                _ => last.answer.push_str(text),
            }
        }
    }
    out
}

/// `scheme://host[:port]` of a URL.
pub fn origin(url: &str) -> String {
    let uri: http::Uri = url.parse().unwrap_or_default();
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or_default(),
        uri.authority().map_or("", |a| a.as_str())
    )
}

/// A running replay: its URL, and what differed so far.
pub struct Replay {
    pub url: String,
    stop: Arc<AtomicBool>,
    problems: Arc<Mutex<Vec<String>>>,
    left: Arc<Mutex<Vec<Exchange>>>,
    thread: Option<JoinHandle<()>>,
}

impl Replay {
    pub fn start(exchanges: Vec<Exchange>) -> Replay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let left = Arc::new(Mutex::new(exchanges.into_iter().rev().collect::<Vec<_>>()));
        let (s, p, l) = (stop.clone(), problems.clone(), left.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => serve(conn, &p, &l),
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Replay {
            url,
            stop,
            problems,
            left,
            thread: Some(thread),
        }
    }

    /// Stops serving; what differed, and every recorded request that never came.
    pub fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let mut problems = std::mem::take(&mut *self.problems.lock().unwrap());
        for never in self.left.lock().unwrap().iter().rev() {
            problems.push(format!("never asked: {} {}", never.method, never.uri));
        }
        problems
    }
}

/// Answers one request on `conn` with the next recorded answer, and closes it.
fn serve(conn: std::net::TcpStream, problems: &Mutex<Vec<String>>, left: &Mutex<Vec<Exchange>>) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("/"),
    );
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push(k);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut problems = problems.lock().unwrap();
    let Some(x) = left.lock().unwrap().pop() else {
        problems.push(format!("not recorded: {method} {target}"));
        let _ = (&conn).write_all(
            b"HTTP/1.1 599 Not Recorded\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        return;
    };
    let uri: http::Uri = x.uri.parse().unwrap();
    let wanted = uri.path_and_query().map_or("/", |p| p.as_str());
    if method != x.method || target != wanted {
        problems.push(format!(
            "asked {method} {target}, recorded {} {}",
            x.method, x.uri
        ));
    }
    let action = |b: &str| {
        b.split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .map(str::to_string)
    };
    if action(&body) != action(&x.body) {
        problems.push(format!("{target}: body {body:?}, recorded {:?}", x.body));
    }
    // Recordings leave out a container authorization token; a signed call's headers are
    // all there.
    for h in HEADERS {
        let (ours, recorded) = (
            headers.iter().any(|k| k == h),
            x.headers.iter().any(|k| k == h),
        );
        if ours != recorded && (recorded || method == "POST") {
            problems.push(format!(
                "{target}: header {h}: ours {ours}, recorded {recorded}"
            ));
        }
    }
    let mut answer = format!("HTTP/1.1 {} Recorded\r\n", x.status);
    for (k, v) in &x.answer_headers {
        answer += &format!("{k}: {v}\r\n");
    }
    answer += &format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{}",
        x.answer.len(),
        x.answer
    );
    let _ = (&conn).write_all(answer.as_bytes());
}
