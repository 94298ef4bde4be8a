//! CloudWatch over the query protocol: GetMetricData (up to 500 queries per call, answers
//! read with their CloudWatch timestamps) and ListMetrics (every page).

use super::client::Aws;
use super::endpoint::Service;
use super::keys::Role;
use super::request::Call;
use crate::clock;
use crate::error::{Error, Result};

/// One MetricStat query. `id` must start with a lower-case letter and be unique in the call.
pub struct Query<'a> {
    pub id: String,
    pub namespace: &'a str,
    pub metric: &'a str,
    pub dimensions: &'a [(String, String)],
    pub stat: &'a str,
    pub period: u32,
}

#[derive(Debug, PartialEq)]
pub struct Page {
    /// Per query id: (timestamp, value) pairs.
    pub results: Vec<(String, Vec<(i64, f64)>)>,
    pub next_token: Option<String>,
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
    let mut params: Vec<(String, String)> = vec![
        ("Action".into(), "GetMetricData".into()),
        ("Version".into(), "2010-08-01".into()),
        ("StartTime".into(), clock::iso8601(start)),
        ("EndTime".into(), clock::iso8601(end)),
        ("ScanBy".into(), "TimestampAscending".into()),
    ];
    if let Some(t) = next_token {
        params.push(("NextToken".into(), t.into()));
    }
    for (i, q) in queries.iter().enumerate() {
        let m = format!("MetricDataQueries.member.{}", i + 1);
        params.push((format!("{m}.Id"), q.id.clone()));
        params.push((
            format!("{m}.MetricStat.Metric.Namespace"),
            q.namespace.into(),
        ));
        params.push((format!("{m}.MetricStat.Metric.MetricName"), q.metric.into()));
        for (j, (name, value)) in q.dimensions.iter().enumerate() {
            let d = format!("{m}.MetricStat.Metric.Dimensions.member.{}", j + 1);
            params.push((format!("{d}.Name"), name.clone()));
            params.push((format!("{d}.Value"), value.clone()));
        }
        params.push((format!("{m}.MetricStat.Period"), q.period.to_string()));
        params.push((format!("{m}.MetricStat.Stat"), q.stat.into()));
        params.push((format!("{m}.ReturnData"), "true".into()));
    }
    let call = Call::query(
        Service::CloudWatch,
        region,
        role,
        &params,
        "CloudWatch GetMetricData",
        "cloudwatch:GetMetricData",
    );
    let body = aws.call(&call)?;
    parse(&call.xml(&body)?).map_err(|e| Error::runtime(format!("{}: {e}", call.action)))
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
    for _ in 0..10_000 {
        let mut params: Vec<(String, String)> = vec![
            ("Action".into(), "ListMetrics".into()),
            ("Version".into(), "2010-08-01".into()),
            ("Namespace".into(), namespace.into()),
            ("MetricName".into(), metric.into()),
            ("RecentlyActive".into(), "PT3H".into()),
        ];
        if let Some(t) = &token {
            params.push(("NextToken".into(), t.clone()));
        }
        let call = Call::query(
            Service::CloudWatch,
            region,
            role,
            &params,
            "CloudWatch ListMetrics",
            "cloudwatch:ListMetrics",
        );
        let body = aws.call(&call)?;
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
            Some(t) => token = Some(t.to_string()),
            None => return Ok(out),
        }
    }
    Err(Error::runtime(
        "CloudWatch ListMetrics kept returning NextToken; giving up",
    ))
}

fn parse(doc: &crate::xml::Element) -> Result<Page, String> {
    let result = doc
        .at("GetMetricDataResult")
        .ok_or_else(|| format!("expected GetMetricDataResult in <{}>", doc.name))?;
    let mut results = Vec::new();
    for r in result.all("MetricDataResults/member") {
        let id = r.text_at("Id").unwrap_or_default().to_string();
        match r.text_at("StatusCode").unwrap_or("Complete") {
            "Complete" | "PartialData" => {}
            "Forbidden" => {
                return Err(format!(
                    "query {id} was forbidden: check cloudwatch:GetMetricData on the account that owns the metric"
                ));
            }
            other => return Err(format!("query {id} ended with status {other}")),
        }
        let times = r.all("Timestamps/member").map(|t| {
            clock::parse_iso8601(&t.text).ok_or_else(|| format!("bad timestamp {:?}", t.text))
        });
        let values = r.all("Values/member").map(|v| {
            v.text
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("bad value {:?}", v.text))
        });
        let points = times
            .zip(values)
            .map(|(t, v)| Ok((t?, v?)))
            .collect::<Result<Vec<_>, String>>()?;
        if points.len() != r.all("Timestamps/member").count()
            || points.len() != r.all("Values/member").count()
        {
            return Err(format!(
                "query {id} has unequal numbers of timestamps and values"
            ));
        }
        results.push((id, points));
    }
    let next_token = result
        .text_at("NextToken")
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok(Page {
        results,
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_results_and_next_token() {
        let doc = crate::xml::parse(br#"<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <GetMetricDataResult>
    <MetricDataResults>
      <member><Id>q0</Id><Label>Requests</Label>
        <Timestamps><member>2026-11-25T01:01:00Z</member><member>2026-11-25T01:02:00.000Z</member></Timestamps>
        <Values><member>1.0</member><member>2.5</member></Values><StatusCode>PartialData</StatusCode></member>
      <member><Id>q1</Id><Timestamps/><Values/><StatusCode>Complete</StatusCode></member>
    </MetricDataResults>
    <NextToken>tok</NextToken><Messages/>
  </GetMetricDataResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</GetMetricDataResponse>"#).unwrap();
        let page = parse(&doc).unwrap();
        assert_eq!(page.next_token.as_deref(), Some("tok"));
        assert_eq!(
            page.results[0],
            ("q0".into(), vec![(1795568460, 1.0), (1795568520, 2.5)])
        );
        assert_eq!(page.results[1], ("q1".into(), vec![]));
    }

    #[test]
    fn refuses_inconsistent_answers() {
        let bad = [
            "<R><GetMetricDataResult><MetricDataResults><member><Id>q0</Id><Timestamps><member>x</member></Timestamps><Values><member>1</member></Values></member></MetricDataResults></GetMetricDataResult></R>",
            "<R><GetMetricDataResult><MetricDataResults><member><Id>q0</Id><Timestamps><member>2026-11-25T01:01:00Z</member></Timestamps><Values/></member></MetricDataResults></GetMetricDataResult></R>",
            "<R><GetMetricDataResult><MetricDataResults><member><Id>q0</Id><StatusCode>Forbidden</StatusCode></member></MetricDataResults></GetMetricDataResult></R>",
            "<R><Other/></R>",
        ];
        for b in bad {
            assert!(
                parse(&crate::xml::parse(b.as_bytes()).unwrap()).is_err(),
                "{b}"
            );
        }
    }
}
