//! The fault layer in front of brokers that advertise their own addresses, as Apache Kafka,
//! Redpanda or tansu do unless told otherwise: whatever address a client learns from Metadata,
//! FindCoordinator or DescribeCluster is a toxiproxy proxy's, so a network fault reaches it.

use std::time::Duration;

mod common;
use common::ExternalBroker;
use kafka_conformance::cluster::{Cluster, ClusterSpec, Launcher, Stop};
use kafka_conformance::faults::NetworkFault;
use kafka_conformance::target::Target;
use kafka_conformance::wire::WireClient;
use kafka_protocol::messages::{
    DescribeClusterRequest, FindCoordinatorRequest, MetadataRequest, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

const TIMEOUT: Duration = Duration::from_secs(5);

fn launcher() -> Launcher {
    Launcher { program: env!("CARGO_BIN_EXE_kafka-conformance").into(), args: vec!["reference".into()] }
}

/// Node id and `host:port` of every broker one Metadata answer lists.
async fn advertised(addr: &str) -> Vec<(i32, String)> {
    let mut c = WireClient::connect(addr, TIMEOUT).await.expect("connect");
    let req = MetadataRequest::default().with_topics(Some(Vec::new()));
    let ResponseKind::Metadata(m) = c.request(RequestKind::Metadata(req)).await.expect("Metadata") else {
        panic!("not a Metadata answer")
    };
    m.brokers.iter().map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port))).collect()
}

/// The group coordinator's address, asked at `version`: up to v3 one coordinator, from v4 a list.
async fn coordinator(addr: &str, version: i16) -> String {
    let mut c = WireClient::connect(addr, TIMEOUT).await.expect("connect");
    for _ in 0..100 {
        let req = if version < 4 {
            FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"))
        } else {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![StrBytes::from_static_str("g")])
        };
        let ResponseKind::FindCoordinator(f) =
            c.request_at(RequestKind::FindCoordinator(req), version).await.expect("answer")
        else {
            panic!("not a FindCoordinator answer")
        };
        let found = f
            .coordinators
            .first()
            .map_or((f.error_code, f.host.to_string(), f.port), |c| (c.error_code, c.host.to_string(), c.port));
        if found.0 == 0 {
            return format!("{}:{}", found.1, found.2);
        }
        // COORDINATOR_NOT_AVAILABLE while __consumer_offsets is created.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no coordinator found")
}

async fn described(addr: &str) -> Vec<String> {
    let mut c = WireClient::connect(addr, TIMEOUT).await.expect("connect");
    let ResponseKind::DescribeCluster(d) =
        c.request(RequestKind::DescribeCluster(DescribeClusterRequest::default())).await.expect("answer")
    else {
        panic!("not a DescribeCluster answer")
    };
    d.brokers.iter().map(|b| format!("{}:{}", b.host.as_str(), b.port)).collect()
}

/// Whether a new connection to `addr` is served.
async fn served(addr: &str) -> bool {
    match WireClient::connect(addr, Duration::from_millis(1500)).await {
        Ok(mut c) => {
            let req = MetadataRequest::default().with_topics(Some(Vec::new()));
            c.request(RequestKind::Metadata(req)).await.is_ok()
        }
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_broker_that_advertises_itself_is_reached_only_through_its_proxy() {
    let broker = ExternalBroker::start();
    let yaml = format!("name: own\nkind:\n  type: external\n  bootstrap: [\"{}\"]\n", broker.addr);
    let target = Target::parse(&yaml, std::path::Path::new("own.yaml")).expect("target");
    let cluster = Cluster::start(&target, None, &ClusterSpec::default()).await.expect("cluster");
    let proxy = cluster.client_addr(1).expect("broker 1 has a proxy").to_string();
    assert_ne!(proxy, broker.addr);
    assert_eq!(cluster.bootstrap_addrs(), std::slice::from_ref(&proxy), "clients bootstrap from the proxy");
    // Directly, the broker names itself; through the layer, every answer names the proxy.
    assert_eq!(advertised(&broker.addr).await, vec![(1, broker.addr.clone())]);
    assert_eq!(advertised(&proxy).await, vec![(1, proxy.clone())]);
    assert_eq!(coordinator(&proxy, 3).await, proxy);
    assert_eq!(coordinator(&proxy, 4).await, proxy);
    assert_eq!(described(&proxy).await, vec![proxy.clone()]);

    let faults = cluster.faults().expect("network faults are on by default").clone();
    faults.apply(1, NetworkFault::Partition).await.expect("partition");
    assert!(!served(&proxy).await, "the address clients learnt still serves during a partition");
    assert!(served(&broker.addr).await, "the broker itself is up");
    faults.heal().await.expect("heal");
    assert!(served(&proxy).await, "healed, the proxy serves again");
    assert!(cluster.address_book().expect("gateways").problems().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_that_advertise_themselves_each_cross_their_own_proxy_even_after_a_restart() {
    let yaml = "name: own\nkind:\n  type: reference\n  advertise: own\n";
    let target = Target::parse(yaml, std::path::Path::new("own.yaml")).expect("target");
    let spec = ClusterSpec { brokers: 3, ..ClusterSpec::default() };
    let mut cluster = Cluster::start(&target, Some(&launcher()), &spec).await.expect("cluster");
    let proxies: Vec<(i32, String)> =
        (1..=3).map(|id| (id, cluster.client_addr(id).expect("a proxy each").to_string())).collect();
    for (_, addr) in &proxies {
        assert_eq!(advertised(addr).await, proxies, "every broker's Metadata names the proxies");
    }
    let mut described = described(&proxies[0].1).await;
    described.sort();
    let mut expected: Vec<String> = proxies.iter().map(|(_, a)| a.clone()).collect();
    expected.sort();
    assert_eq!(described, expected);

    let faults = cluster.faults().expect("faults").clone();
    faults.apply(2, NetworkFault::Partition).await.expect("partition");
    assert!(!served(&proxies[1].1).await, "broker 2 is cut off");
    assert!(served(&proxies[0].1).await && served(&proxies[2].1).await, "brokers 1 and 3 are not");
    faults.heal().await.expect("heal");

    // A restarted broker listens on a new port; its gateway follows it.
    cluster.stop(2, Stop::Kill).await.expect("kill");
    cluster.start_broker(2).await.expect("start");
    assert_eq!(advertised(&proxies[1].1).await, proxies);
    assert!(cluster.address_book().expect("gateways").unknown().is_empty());
}
