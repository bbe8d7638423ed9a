//! The broker configs a target's brokers run with, for scenarios that need some (`Given the
//! brokers are configured with:`) on a target the harness does not start.
//!
//! Each broker is asked through DescribeConfigs. A config it does not report (a broker that
//! answers no DescribeConfigs, or leaves the config out) is taken from the target file's
//! declaration (`kind.configs`), as librdkafka's mock is taken at what the harness starts it
//! with. A declaration never overrules the broker: where DescribeConfigs reports a value, that
//! value is judged, and a declaration that contradicts it is reported.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{DescribeConfigsRequest, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::kafka::error_name;
use crate::wire::{WireClient, WireError};

/// What one broker's DescribeConfigs answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Config name → value, as reported (a null value, Kafka's answer for a sensitive config, is
    /// left out: it says nothing about the value).
    Reported(BTreeMap<String, String>),
    /// The broker answered no configs: DescribeConfigs is not advertised, or failed with this.
    Nothing(String),
}

/// Whether the brokers run with what a scenario needs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Judgment {
    /// Why a needed config is not in force, one line per broker and config.
    pub missing: Vec<String>,
    /// Declarations that DescribeConfigs contradicts.
    pub contradictions: Vec<String>,
}

/// Judges `needed` against each broker's answer (by node id), falling back on `declared`
/// where a broker reports nothing.
pub fn judge(
    needed: &BTreeMap<String, String>,
    declared: &BTreeMap<String, String>,
    answers: &BTreeMap<i32, Answer>,
) -> Judgment {
    let mut j = Judgment::default();
    for (broker, answer) in answers {
        let reported = match answer {
            Answer::Reported(configs) => configs.clone(),
            Answer::Nothing(_) => BTreeMap::new(),
        };
        for (k, d) in declared {
            if let Some(r) = reported.get(k).filter(|r| *r != d) {
                j.contradictions.push(format!(
                    "broker {broker} reports {k}={r} through DescribeConfigs; the target file declares {d}: the broker's answer is used"
                ));
            }
        }
        for (k, v) in needed {
            match (reported.get(k), declared.get(k)) {
                (Some(r), _) if r == v => {}
                (Some(r), _) => j.missing.push(format!("broker {broker}: {k} is {r}")),
                (None, Some(d)) if d == v => {}
                (None, Some(d)) => j.missing.push(format!("broker {broker}: {k} is {d} (declared in the target file)")),
                (None, None) => j.missing.push(format!(
                    "broker {broker}: {k} is not reported through DescribeConfigs{}, nor declared in the target file's kind.configs",
                    match answer {
                        Answer::Nothing(why) => format!(" ({why})"),
                        Answer::Reported(_) => String::new(),
                    }
                )),
            }
        }
    }
    j
}

/// Asks each broker (node id → `host:port`) for all its configs (resource type BROKER = 4).
/// Each broker describes only itself (Kafka's ConfigHelper answers INVALID_REQUEST for another
/// broker's id), so each is asked on its own connection; every config is asked for (null keys),
/// as Kafka's admin client asks. DescribeConfigs not advertised is an answer (`Nothing`); any
/// other wire error is returned.
pub async fn describe(brokers: &BTreeMap<i32, String>, timeout: Duration) -> Result<BTreeMap<i32, Answer>, WireError> {
    let mut answers = BTreeMap::new();
    for (id, addr) in brokers {
        let mut client = WireClient::connect(addr, timeout).await?;
        let req = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_string(id.to_string()))
                .with_configuration_keys(None),
        ]);
        let answer = match client.request(RequestKind::DescribeConfigs(req)).await {
            Ok(ResponseKind::DescribeConfigs(r)) => match r.results.first() {
                Some(res) if res.error_code != 0 => {
                    Answer::Nothing(format!("DescribeConfigs failed with {}", error_name(res.error_code)))
                }
                Some(res) => Answer::Reported(
                    res.configs
                        .iter()
                        .filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string())))
                        .collect(),
                ),
                None => Answer::Nothing("DescribeConfigs answered no resource".into()),
            },
            Ok(_) => Answer::Nothing("DescribeConfigs answered with another response type".into()),
            Err(WireError::Unsupported { .. }) => Answer::Nothing("DescribeConfigs is not advertised".into()),
            Err(e) => return Err(e),
        };
        answers.insert(*id, answer);
    }
    Ok(answers)
}

/// Every declaration the brokers contradict, checked once before a run: the brokers Metadata
/// lists at `bootstrap`, each asked through DescribeConfigs.
pub async fn contradictions(
    bootstrap: &[String],
    declared: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let addr = bootstrap.first().ok_or("no bootstrap address")?;
    let mut client = WireClient::connect(addr, timeout).await.map_err(|e| e.to_string())?;
    let view = crate::metadata::fetch(&mut client, addr, &[]).await.map_err(|e| e.to_string())?;
    let answers = describe(&view.brokers, timeout).await.map_err(|e| e.to_string())?;
    Ok(judge(&BTreeMap::new(), declared, &answers).contradictions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const NEEDED: &[(&str, &str)] = &[("log.cleaner.backoff.ms", "200")];

    /// One broker; what it reports, what the file declares, and the expected judgment.
    #[rstest]
    #[case::reported_as_needed(Some(&[("log.cleaner.backoff.ms", "200")][..]), &[][..], "", "")]
    #[case::reported_otherwise(Some(&[("log.cleaner.backoff.ms", "15000")][..]), &[][..], "is 15000", "")]
    #[case::not_reported_but_declared(Some(&[][..]), &[("log.cleaner.backoff.ms", "200")][..], "", "")]
    #[case::not_advertised_but_declared(None, &[("log.cleaner.backoff.ms", "200")][..], "", "")]
    #[case::declared_otherwise(None, &[("log.cleaner.backoff.ms", "15000")][..], "is 15000 (declared", "")]
    #[case::neither(None, &[][..], "not reported through DescribeConfigs (not advertised), nor declared", "")]
    #[case::the_broker_wins_over_the_file(
        Some(&[("log.cleaner.backoff.ms", "15000")][..]),
        &[("log.cleaner.backoff.ms", "200")][..],
        "is 15000",
        "reports log.cleaner.backoff.ms=15000 through DescribeConfigs; the target file declares 200"
    )]
    #[case::a_harmless_contradiction_is_still_reported(
        Some(&[("log.cleaner.backoff.ms", "200"), ("log.retention.check.interval.ms", "300000")][..]),
        &[("log.retention.check.interval.ms", "200")][..],
        "",
        "reports log.retention.check.interval.ms=300000"
    )]
    fn declared_configs_fill_in_what_describe_configs_does_not_report(
        #[case] reported: Option<&[(&str, &str)]>,
        #[case] declared: &[(&str, &str)],
        #[case] missing: &str,
        #[case] contradiction: &str,
    ) {
        let answer = match reported {
            Some(r) => Answer::Reported(map(r)),
            None => Answer::Nothing("not advertised".into()),
        };
        let j = judge(&map(NEEDED), &map(declared), &BTreeMap::from([(1, answer)]));
        let check = |found: &[String], want: &str| match want {
            "" => assert!(found.is_empty(), "{found:?}"),
            want => assert!(found.len() == 1 && found[0].contains(want), "{found:?} lacks {want:?}"),
        };
        check(&j.missing, missing);
        check(&j.contradictions, contradiction);
    }
}
