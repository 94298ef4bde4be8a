//! CloudWatch over the query protocol: GetMetricData (up to 500 queries per call, answers
//! streamed, not built into a tree, since they can be tens of MB; each result keeps its
//! CloudWatch timestamps and its StatusCode, and the page its top-level `Messages`) and
//! ListMetrics (every page).

use super::client::Aws;
use super::endpoint::Service;
use super::keys::Role;
use super::pages::Pages;
use super::request::Call;
use crate::clock;
use crate::error::{Error, Result};
use crate::fault::Undecodable;
use crate::url::Form;
use crate::xml::Step;
use std::rc::Rc;

/// One MetricStat query. `id` must start with a lower-case letter and be unique in the call.
pub struct Query<'a> {
    pub id: String,
    pub namespace: &'a str,
    pub metric: &'a str,
    pub dimensions: &'a [(Rc<str>, Rc<str>)],
    pub stat: &'a str,
    pub period: u32,
}

#[derive(Debug, PartialEq)]
pub struct Page {
    pub results: Vec<QueryResult>,
    pub next_token: Option<String>,
    /// The top-level `Messages` (botocore's `MetricDataResultMessages`): (Code, Value) about
    /// the whole call, like `MaxMetricsExceeded`; "as much of the operation as possible is
    /// still executed", so the results beside one may not be all there is.
    pub messages: Vec<(String, String)>,
}

/// One query's part of a page.
#[derive(Debug, Default, PartialEq)]
pub struct QueryResult {
    pub id: String,
    pub status: Status,
    /// (timestamp, value) pairs.
    pub points: Vec<(i64, f64)>,
}

/// A result's StatusCode (absent: Complete).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    #[default]
    Complete,
    /// More with the NextToken; without one, the rest cannot be had.
    PartialData,
    /// Retry, with the NextToken if there is one.
    InternalError,
    Forbidden,
    /// A code this version does not know.
    Other(String),
}

impl Status {
    fn parse(s: &str) -> Status {
        match s {
            "" | "Complete" => Status::Complete,
            "PartialData" => Status::PartialData,
            "InternalError" => Status::InternalError,
            "Forbidden" => Status::Forbidden,
            other => Status::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Status::Complete => "Complete",
            Status::PartialData => "PartialData",
            Status::InternalError => "InternalError",
            Status::Forbidden => "Forbidden",
            Status::Other(s) => s,
        }
    }
}

/// One GetMetricData call over `[start, end)`.
pub fn get_metric_data(
    aws: &Aws,
    region: &str,
    role: Option<&Role>,
    queries: &[Query],
    start: i64,
    end: i64,
    next_token: Option<&str>,
) -> Result<Page> {
    let mut params = Form::default();
    params
        .add(format_args!("Action"), "GetMetricData")
        .add(format_args!("Version"), "2010-08-01")
        .add(format_args!("StartTime"), &clock::iso8601(start))
        .add(format_args!("EndTime"), &clock::iso8601(end))
        .add(format_args!("ScanBy"), "TimestampAscending");
    if let Some(t) = next_token {
        params.add(format_args!("NextToken"), t);
    }
    for (i, q) in queries.iter().enumerate() {
        let m = i + 1;
        let stat = "MetricStat";
        params
            .add(format_args!("MetricDataQueries.member.{m}.Id"), &q.id)
            .add(
                format_args!("MetricDataQueries.member.{m}.{stat}.Metric.Namespace"),
                q.namespace,
            )
            .add(
                format_args!("MetricDataQueries.member.{m}.{stat}.Metric.MetricName"),
                q.metric,
            );
        for (j, (name, value)) in q.dimensions.iter().enumerate() {
            let d = j + 1;
            params
                .add(
                    format_args!(
                        "MetricDataQueries.member.{m}.{stat}.Metric.Dimensions.member.{d}.Name"
                    ),
                    name,
                )
                .add(
                    format_args!(
                        "MetricDataQueries.member.{m}.{stat}.Metric.Dimensions.member.{d}.Value"
                    ),
                    value,
                );
        }
        params
            .add(
                format_args!("MetricDataQueries.member.{m}.{stat}.Period"),
                &q.period.to_string(),
            )
            .add(
                format_args!("MetricDataQueries.member.{m}.{stat}.Stat"),
                q.stat,
            )
            .add(
                format_args!("MetricDataQueries.member.{m}.ReturnData"),
                "true",
            );
    }
    let mut call = Call::query(
        Service::CloudWatch,
        region,
        role,
        params,
        "CloudWatch GetMetricData",
        "cloudwatch:GetMetricData",
    );
    // 500 queries of a day at one-minute periods are some 60 MB of XML, read as a stream.
    call.body_limit = 64 << 20;
    let body = aws.call(&call)?;
    parse(&body).map_err(|e| {
        Error::runtime(format!(
            "{} returned an unreadable answer: {e}",
            call.action
        ))
    })
}

/// The dimension sets of `metric` in `namespace` with data in the last three hours (every
/// ListMetrics page).
pub fn list_metrics(
    aws: &Aws,
    region: &str,
    role: Option<&Role>,
    namespace: &str,
    metric: &str,
) -> Result<Vec<Vec<(String, String)>>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Pages::new("CloudWatch ListMetrics", "NextToken");
    loop {
        let mut params = Form::default();
        params
            .add(format_args!("Action"), "ListMetrics")
            .add(format_args!("Version"), "2010-08-01")
            .add(format_args!("Namespace"), namespace)
            .add(format_args!("MetricName"), metric)
            .add(format_args!("RecentlyActive"), "PT3H");
        if let Some(t) = &token {
            params.add(format_args!("NextToken"), t);
        }
        let call = Call::query(
            Service::CloudWatch,
            region,
            role,
            params,
            "CloudWatch ListMetrics",
            "cloudwatch:ListMetrics",
        );
        let body = aws.call(&call)?;
        pages.read(body.len())?;
        let doc = call.xml(&body)?;
        let result = doc.at("ListMetricsResult").ok_or_else(|| {
            Error::runtime(format!(
                "{}: expected ListMetricsResult in <{}>",
                call.action, doc.name
            ))
        })?;
        for m in result.all("Metrics/member") {
            out.push(
                m.all("Dimensions/member")
                    .map(|d| {
                        (
                            d.text_at("Name").unwrap_or_default().to_string(),
                            d.text_at("Value").unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            );
        }
        match result.text_at("NextToken").filter(|t| !t.is_empty()) {
            Some(t) => {
                pages.next(t)?;
                token = Some(t.to_string());
            }
            None => return Ok(out),
        }
    }
}

/// Reads a GetMetricData answer as it streams: `…Response/GetMetricDataResult/
/// MetricDataResults/member` with `Id`, `StatusCode`, `Timestamps/member`, `Values/member`,
/// then `NextToken` and `Messages/member` with `Code` and `Value`.
fn parse(body: &[u8]) -> Result<Page, Undecodable> {
    const RESULT: [&str; 3] = ["GetMetricDataResult", "MetricDataResults", "member"];
    const MESSAGE: [&str; 3] = ["GetMetricDataResult", "Messages", "member"];
    let mut page = Page {
        results: Vec::new(),
        next_token: None,
        messages: Vec::new(),
    };
    let mut current: Option<(QueryResult, Vec<i64>, Vec<f64>)> = None;
    let mut message: Option<(String, String)> = None;
    let mut seen_result = false;
    crate::xml::walk(body, &mut |step| {
        match step {
            Step::Open(path) => {
                if path.len() == 2 && path[1] == "GetMetricDataResult" {
                    seen_result = true;
                }
                if path.len() == 4 && path[1..] == RESULT {
                    current = Some(Default::default());
                }
                if path.len() == 4 && path[1..] == MESSAGE {
                    message = Some(Default::default());
                }
            }
            Step::Close(path, text) => {
                let text = text.trim();
                let at = |tail: &[&str]| {
                    path.len() == 4 + tail.len() && path[1..4] == RESULT && path[4..] == *tail
                };
                if let Some((result, times, values)) = current.as_mut() {
                    if at(&["Id"]) {
                        result.id = text.to_string();
                    } else if at(&["StatusCode"]) {
                        result.status = Status::parse(text);
                    } else if at(&["Timestamps", "member"]) {
                        times.push(
                            clock::parse_iso8601(text).ok_or_else(|| {
                                Undecodable::new(format!("bad timestamp {text:?}"))
                            })?,
                        );
                    } else if at(&["Values", "member"]) {
                        values.push(
                            text.parse::<f64>()
                                .map_err(|_| Undecodable::new(format!("bad value {text:?}")))?,
                        );
                    }
                }
                if path.len() == 4 && path[1..] == RESULT {
                    let Some((mut result, times, values)) = current.take() else {
                        return Ok(());
                    };
                    if times.len() != values.len() {
                        return Err(Undecodable::new(format!(
                            "query {} has unequal numbers of timestamps and values",
                            result.id
                        )));
                    }
                    result.points = times.into_iter().zip(values).collect();
                    page.results.push(result);
                }
                if let Some((code, value)) = message.as_mut()
                    && path.len() == 5
                    && path[1..4] == MESSAGE
                {
                    match path[4].as_str() {
                        "Code" => *code = text.to_string(),
                        "Value" => *value = text.to_string(),
                        _ => {}
                    }
                }
                if path.len() == 4
                    && path[1..] == MESSAGE
                    && let Some(m) = message.take()
                {
                    page.messages.push(m);
                }
                if path.len() == 3
                    && path[1] == "GetMetricDataResult"
                    && path[2] == "NextToken"
                    && !text.is_empty()
                {
                    page.next_token = Some(text.to_string());
                }
            }
        }
        Ok(())
    })?;
    if !seen_result {
        return Err(Undecodable::new("expected GetMetricDataResult"));
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "GetMetricData",
            &[br#"<GetMetricDataResponse><GetMetricDataResult><MetricDataResults><member><Id>q0</Id><Timestamps><member>2026-11-25T01:01:00Z</member><member>2026-11-25T01:02:00.000Z</member></Timestamps><Values><member>1.0</member><member>2.5</member></Values><StatusCode>PartialData</StatusCode></member><member><Id>q1</Id><Timestamps/><Values/><StatusCode>InternalError</StatusCode></member></MetricDataResults><NextToken>tok</NextToken></GetMetricDataResult></GetMetricDataResponse>"#],
            |b| parse(b).map_or(0, |p| p.results.iter().map(|r| 1 + r.points.len()).sum()),
        );
    }

    #[test]
    fn reads_results_and_next_token() {
        let doc = br#"<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <GetMetricDataResult>
    <MetricDataResults>
      <member><Id>q0</Id><Label>Requests</Label>
        <Timestamps><member>2026-11-25T01:01:00Z</member><member>2026-11-25T01:02:00.000Z</member></Timestamps>
        <Values><member>1.0</member><member>2.5</member></Values><StatusCode>PartialData</StatusCode></member>
      <member><Id>q1</Id><Timestamps/><Values/><StatusCode>Complete</StatusCode>
        <Messages><member><Code>Note</Code><Value>about this query alone</Value></member></Messages></member>
    </MetricDataResults>
    <NextToken>tok</NextToken>
    <Messages><member><Code>MaxMetricsExceeded</Code><Value>Maximum number of allowed metrics exceeded</Value></member></Messages>
  </GetMetricDataResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</GetMetricDataResponse>"#;
        let page = parse(doc).unwrap();
        assert_eq!(page.next_token.as_deref(), Some("tok"));
        assert_eq!(
            page.messages,
            [(
                "MaxMetricsExceeded".to_string(),
                "Maximum number of allowed metrics exceeded".to_string()
            )]
        );
        let r = &page.results[0];
        assert_eq!(
            (r.id.as_str(), r.status.as_str(), r.points.as_slice()),
            (
                "q0",
                "PartialData",
                &[(1795568460, 1.0), (1795568520, 2.5)][..]
            )
        );
        let r = &page.results[1];
        assert_eq!(
            (r.id.as_str(), r.status.as_str(), r.points.len()),
            ("q1", "Complete", 0)
        );
    }

    #[test]
    fn refuses_inconsistent_answers() {
        let bad = [
            "<R><GetMetricDataResult><MetricDataResults><member><Id>q0</Id><Timestamps><member>x</member></Timestamps><Values><member>1</member></Values></member></MetricDataResults></GetMetricDataResult></R>",
            "<R><GetMetricDataResult><MetricDataResults><member><Id>q0</Id><Timestamps><member>2026-11-25T01:01:00Z</member></Timestamps><Values/></member></MetricDataResults></GetMetricDataResult></R>",
            "<R><Other/></R>",
            "<R><GetMetricDataResult><MetricDataResults><member><Id>q0</Id>",
        ];
        for b in bad {
            assert!(parse(b.as_bytes()).is_err(), "{b}");
        }
        let forbidden = parse(b"<R><GetMetricDataResult><MetricDataResults><member><Id>q0</Id><StatusCode>Forbidden</StatusCode></member></MetricDataResults></GetMetricDataResult></R>").unwrap();
        assert_eq!(forbidden.results[0].status, Status::Forbidden);
        assert!(forbidden.messages.is_empty());
    }
}
