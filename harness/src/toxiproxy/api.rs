//! toxiproxy's REST API: routes, handlers and their JSON (toxiproxy `api.go`,
//! `proxy_collection.go`, `toxic_collection.go`, v2.12.0). Status codes, error texts and
//! defaults are toxiproxy's; see the module docs of [`super`] for the few differences.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::proxy::Proxy;
use super::toxics::{Direction, Kind, Toxic};

/// The toxiproxy release whose API this follows; `GET /version` reports it.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// Every proxy, by name.
#[derive(Default)]
pub struct State {
    proxies: Mutex<BTreeMap<String, Proxy>>,
}

impl State {
    /// Stops every proxy and forgets it (server shutdown).
    pub async fn clear(&self) {
        let mut proxies = self.proxies.lock().await;
        for proxy in proxies.values_mut() {
            proxy.stop().await;
        }
        proxies.clear();
    }
}

/// An HTTP answer: a status and, unless 204, a JSON body.
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply { status, body: Some(body) }
    }

    fn no_content() -> Reply {
        Reply { status: 204, body: None }
    }
}

/// toxiproxy's `ApiError`: `{"error": message, "status": code}`.
#[derive(Debug, PartialEq)]
pub struct ApiError {
    pub message: String,
    pub status: u16,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError { message: message.into(), status }
    }

    fn bad_body(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(400, format!("bad request body: {detail}"))
    }

    fn missing_field(field: &str) -> ApiError {
        ApiError::new(400, format!("missing required field: {field}"))
    }

    fn proxy_not_found() -> ApiError {
        ApiError::new(404, "proxy not found")
    }

    fn toxic_not_found() -> ApiError {
        ApiError::new(404, "toxic not found")
    }

    /// An error toxiproxy does not map to a status (listen failures): 500.
    fn internal(message: String) -> ApiError {
        ApiError::new(500, message)
    }

    fn to_json(&self) -> Value {
        json!({"error": self.message, "status": self.status})
    }

    pub fn reply(self) -> Reply {
        Reply::json(self.status, self.to_json())
    }
}

/// Answers one request. `path` is the decoded path without the query string.
pub async fn handle(state: &State, method: &str, path: &str, body: &[u8], user_agent: &str) -> Reply {
    // api.go `stopBrowsersMiddleware`: a web page must not drive the proxies on this machine.
    if user_agent.starts_with("Mozilla/") {
        return ApiError::new(403, "User agent not allowed").reply();
    }
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let result = match (method, segments.as_slice()) {
        ("GET", ["version"]) => Ok(Reply::json(200, json!({"version": TOXIPROXY_VERSION}))),
        ("POST", ["reset"]) => reset(state).await,
        ("GET", ["proxies"]) => proxy_index(state).await,
        ("POST", ["proxies"]) => proxy_create(state, body).await,
        ("POST", ["populate"]) => Ok(populate(state, body).await),
        ("GET", ["proxies", name]) => proxy_show(state, name).await,
        ("POST" | "PATCH", ["proxies", name]) => proxy_update(state, name, body).await,
        ("DELETE", ["proxies", name]) => proxy_delete(state, name).await,
        ("GET", ["proxies", name, "toxics"]) => toxic_index(state, name).await,
        ("POST", ["proxies", name, "toxics"]) => toxic_create(state, name, body).await,
        ("GET", ["proxies", name, "toxics", toxic]) => toxic_show(state, name, toxic).await,
        ("POST" | "PATCH", ["proxies", name, "toxics", toxic]) => toxic_update(state, name, toxic, body).await,
        ("DELETE", ["proxies", name, "toxics", toxic]) => toxic_delete(state, name, toxic).await,
        (_, ["version" | "reset" | "populate" | "proxies"])
        | (_, ["proxies", _])
        | (_, ["proxies", _, "toxics"])
        | (_, ["proxies", _, "toxics", _]) => Err(ApiError::new(405, format!("method {method} not allowed on {path}"))),
        _ => Err(ApiError::new(404, format!("no such endpoint: {path}"))),
    };
    result.unwrap_or_else(ApiError::reply)
}

async fn reset(state: &State) -> Result<Reply, ApiError> {
    let mut proxies = state.proxies.lock().await;
    for proxy in proxies.values_mut() {
        proxy.start().await.map_err(ApiError::internal)?;
        proxy.remove_all_toxics();
    }
    Ok(Reply::no_content())
}

async fn proxy_index(state: &State) -> Result<Reply, ApiError> {
    let proxies = state.proxies.lock().await;
    let all: Map<String, Value> = proxies.iter().map(|(name, p)| (name.clone(), p.to_json())).collect();
    Ok(Reply::json(200, Value::Object(all)))
}

/// The fields of a proxy in a request; absent fields are None.
struct ProxyInput {
    name: Option<String>,
    listen: Option<String>,
    upstream: Option<String>,
    enabled: Option<bool>,
}

impl ProxyInput {
    fn parse(v: &Value) -> Result<ProxyInput, ApiError> {
        let obj = v.as_object().ok_or_else(|| ApiError::bad_body(format!("expected a JSON object, got {v}")))?;
        Ok(ProxyInput {
            name: string_field(obj, "name")?,
            listen: string_field(obj, "listen")?,
            upstream: string_field(obj, "upstream")?,
            enabled: bool_field(obj, "enabled")?,
        })
    }
}

async fn proxy_create(state: &State, body: &[u8]) -> Result<Reply, ApiError> {
    let input = ProxyInput::parse(&first_json_value(body)?)?;
    let name = input.name.filter(|n| !n.is_empty()).ok_or_else(|| ApiError::missing_field("name"))?;
    let upstream = input.upstream.filter(|u| !u.is_empty()).ok_or_else(|| ApiError::missing_field("upstream"))?;
    let mut proxies = state.proxies.lock().await;
    if proxies.contains_key(&name) {
        return Err(ApiError::new(409, "proxy already exists"));
    }
    let mut proxy = Proxy::new(name.clone(), input.listen.unwrap_or_default(), upstream);
    if input.enabled.unwrap_or(true) {
        proxy.start().await.map_err(ApiError::internal)?;
    }
    let shown = proxy.to_json();
    proxies.insert(name, proxy);
    Ok(Reply::json(201, shown))
}

/// `POST /populate`: creates each proxy, or replaces one of the same name whose listen or
/// upstream differs; an identical one is kept as it is, toxics included
/// (`ProxyCollection.AddOrReplace`). On an error, the proxies done so far are still listed.
async fn populate(state: &State, body: &[u8]) -> Reply {
    let mut done = Vec::new();
    let result = populate_into(state, body, &mut done).await;
    let proxies = Value::Array(done);
    match result {
        Ok(()) => Reply::json(201, json!({"proxies": proxies})),
        Err(e) => Reply::json(e.status, json!({"error": e.message, "status": e.status, "proxies": proxies})),
    }
}

async fn populate_into(state: &State, body: &[u8], done: &mut Vec<Value>) -> Result<(), ApiError> {
    let value = first_json_value(body)?;
    let items = value.as_array().ok_or_else(|| ApiError::bad_body(format!("expected a JSON array, got {value}")))?;
    let mut inputs = Vec::with_capacity(items.len());
    // Every entry is checked before any proxy is touched.
    for (i, item) in items.iter().enumerate() {
        let input = ProxyInput::parse(item)?;
        let name = input.name.filter(|n| !n.is_empty());
        let upstream = input.upstream.filter(|u| !u.is_empty());
        let (Some(name), Some(upstream)) = (name.clone(), upstream) else {
            let field = if name.is_none() { "name" } else { "upstream" };
            return Err(ApiError::missing_field(&format!("{field} at proxy {}", i + 1)));
        };
        inputs.push((name, input.listen.unwrap_or_default(), upstream, input.enabled.unwrap_or(true)));
    }
    let mut proxies = state.proxies.lock().await;
    for (name, listen, upstream, enabled) in inputs {
        if let Some(existing) = proxies.get_mut(&name) {
            if !differs(existing, &listen, &upstream).await? {
                done.push(existing.to_json());
                continue;
            }
            existing.stop().await;
        }
        let mut proxy = Proxy::new(name.clone(), listen, upstream);
        if enabled {
            proxy.start().await.map_err(ApiError::internal)?;
        }
        done.push(proxy.to_json());
        proxies.insert(name, proxy);
    }
    Ok(())
}

/// toxiproxy's `Proxy.Differs`: the listen address is compared once resolved, so
/// `localhost:8080` equals `127.0.0.1:8080`.
async fn differs(proxy: &Proxy, listen: &str, upstream: &str) -> Result<bool, ApiError> {
    Ok(resolve(listen).await? != proxy.listen || upstream != proxy.upstream)
}

async fn resolve(listen: &str) -> Result<String, ApiError> {
    let listen = if listen.is_empty() { "127.0.0.1:0" } else { listen };
    let addrs: Vec<_> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| ApiError::internal(format!("address {listen}: {e}")))?
        .collect();
    // Go's resolver prefers IPv4.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.to_string())
        .ok_or_else(|| ApiError::internal(format!("address {listen}: no address")))
}

async fn proxy_show(state: &State, name: &str) -> Result<Reply, ApiError> {
    let proxies = state.proxies.lock().await;
    let proxy = proxies.get(name).ok_or_else(ApiError::proxy_not_found)?;
    Ok(Reply::json(200, proxy.to_json()))
}

/// `POST /proxies/{name}`: absent fields keep their value. A new listen or upstream restarts the
/// proxy (closing its connections); `enabled` starts or stops it (`Proxy.Update`).
async fn proxy_update(state: &State, name: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let mut proxies = state.proxies.lock().await;
    let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
    let input = ProxyInput::parse(&first_json_value(body)?)?;
    let listen = input.listen.unwrap_or_else(|| proxy.listen.clone());
    let upstream = input.upstream.unwrap_or_else(|| proxy.upstream.clone());
    let enabled = input.enabled.unwrap_or(proxy.enabled);
    if differs(proxy, &listen, &upstream).await? {
        proxy.stop().await;
        proxy.listen = listen;
        proxy.upstream = upstream;
    }
    if enabled != proxy.enabled {
        if enabled {
            proxy.start().await.map_err(ApiError::internal)?;
        } else {
            proxy.stop().await;
        }
    }
    Ok(Reply::json(200, proxy.to_json()))
}

async fn proxy_delete(state: &State, name: &str) -> Result<Reply, ApiError> {
    let mut proxies = state.proxies.lock().await;
    let mut proxy = proxies.remove(name).ok_or_else(ApiError::proxy_not_found)?;
    proxy.stop().await;
    Ok(Reply::no_content())
}

async fn toxic_index(state: &State, name: &str) -> Result<Reply, ApiError> {
    let proxies = state.proxies.lock().await;
    let proxy = proxies.get(name).ok_or_else(ApiError::proxy_not_found)?;
    Ok(Reply::json(200, Value::Array(proxy.toxics().iter().map(|t| t.to_json()).collect())))
}

/// `POST /proxies/{name}/toxics` (`ToxicCollection.AddToxicJson`): stream defaults to
/// downstream, toxicity to 1, the name to `{type}_{stream}`. toxiproxy answers 200, not 201.
async fn toxic_create(state: &State, name: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let mut proxies = state.proxies.lock().await;
    let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
    let value = first_json_value(body)?;
    let obj = value.as_object().ok_or_else(|| ApiError::bad_body(format!("expected a JSON object, got {value}")))?;
    let toxic_name = string_field(obj, "name")?;
    let type_name = string_field(obj, "type")?.unwrap_or_default();
    let stream = string_field(obj, "stream")?.unwrap_or_else(|| "downstream".to_string());
    let toxicity = f32_field(obj, "toxicity")?.unwrap_or(1.0);
    let attributes = attributes_field(obj)?;
    let direction = Direction::parse(&stream)
        .ok_or_else(|| ApiError::new(400, "stream was invalid, can be either upstream or downstream"))?;
    let toxic_name = toxic_name.filter(|n| !n.is_empty()).unwrap_or_else(|| format!("{type_name}_{stream}"));
    let mut kind = Kind::new(&type_name).ok_or_else(|| {
        ApiError::new(400, format!("invalid toxic type: {type_name:?} (known: {})", Kind::TYPES.join(", ")))
    })?;
    if proxy.toxic(&toxic_name).is_some() {
        return Err(ApiError::new(409, "toxic already exists"));
    }
    if let Some(attrs) = attributes {
        kind.set_attributes(attrs).map_err(ApiError::bad_body)?;
    }
    let toxic = Toxic::new(toxic_name, stream, direction, toxicity, kind);
    let shown = toxic.to_json();
    proxy.add_toxic(toxic);
    Ok(Reply::json(200, shown))
}

async fn toxic_show(state: &State, name: &str, toxic: &str) -> Result<Reply, ApiError> {
    let proxies = state.proxies.lock().await;
    let proxy = proxies.get(name).ok_or_else(ApiError::proxy_not_found)?;
    let toxic = proxy.toxic(toxic).ok_or_else(ApiError::toxic_not_found)?;
    Ok(Reply::json(200, toxic.to_json()))
}

/// `POST /proxies/{name}/toxics/{toxic}` (`UpdateToxicJson`): only `attributes` (merged into
/// the current ones) and `toxicity` change; live connections restart the toxic.
async fn toxic_update(state: &State, name: &str, toxic: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let mut proxies = state.proxies.lock().await;
    let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
    let mut updated = Toxic::clone(proxy.toxic(toxic).ok_or_else(ApiError::toxic_not_found)?);
    let value = first_json_value(body)?;
    let obj = value.as_object().ok_or_else(|| ApiError::bad_body(format!("expected a JSON object, got {value}")))?;
    if let Some(attrs) = attributes_field(obj)? {
        updated.kind.set_attributes(attrs).map_err(ApiError::bad_body)?;
    }
    if let Some(toxicity) = f32_field(obj, "toxicity")? {
        updated.toxicity = toxicity;
    }
    let shown = updated.to_json();
    proxy.replace_toxic(updated);
    Ok(Reply::json(200, shown))
}

async fn toxic_delete(state: &State, name: &str, toxic: &str) -> Result<Reply, ApiError> {
    let mut proxies = state.proxies.lock().await;
    let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
    if !proxy.remove_toxic(toxic) {
        return Err(ApiError::toxic_not_found());
    }
    Ok(Reply::no_content())
}

/// The first JSON value of the body; Go's `json.Decoder.Decode` ignores what follows it, and
/// an empty body is "EOF".
fn first_json_value(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::Deserializer::from_slice(body).into_iter::<Value>().next() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(ApiError::bad_body(e)),
        None => Err(ApiError::bad_body("EOF")),
    }
}

/// A field; JSON `null` counts as absent, as in Go's decoder.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn string_field(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    field(obj, key)
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad_body(format!("{key:?} must be a string, not {v}")))
        })
        .transpose()
}

fn bool_field(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    field(obj, key)
        .map(|v| v.as_bool().ok_or_else(|| ApiError::bad_body(format!("{key:?} must be true or false, not {v}"))))
        .transpose()
}

fn f32_field(obj: &Map<String, Value>, key: &str) -> Result<Option<f32>, ApiError> {
    field(obj, key)
        .map(|v| {
            v.as_f64().map(|f| f as f32).ok_or_else(|| ApiError::bad_body(format!("{key:?} must be a number, not {v}")))
        })
        .transpose()
}

fn attributes_field(obj: &Map<String, Value>) -> Result<Option<&Map<String, Value>>, ApiError> {
    field(obj, "attributes")
        .map(|v| v.as_object().ok_or_else(|| ApiError::bad_body(format!("\"attributes\" must be an object, not {v}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn call(state: &State, method: &str, path: &str, body: &str) -> Reply {
        handle(state, method, path, body.as_bytes(), "test").await
    }

    fn error(status: u16, message: &str) -> Reply {
        ApiError::new(status, message).reply()
    }

    #[tokio::test]
    async fn errors_are_toxiproxys() {
        let state = State::default();
        assert_eq!(call(&state, "GET", "/proxies/nope", "").await, error(404, "proxy not found"));
        assert_eq!(call(&state, "POST", "/proxies", "{").await.status, 400);
        assert_eq!(call(&state, "POST", "/proxies", "").await, error(400, "bad request body: EOF"));
        assert_eq!(
            call(&state, "POST", "/proxies", r#"{"name":"p"}"#).await,
            error(400, "missing required field: upstream")
        );
        let create = r#"{"name":"p","upstream":"127.0.0.1:9","listen":"127.0.0.1:0","enabled":false}"#;
        assert_eq!(call(&state, "POST", "/proxies", create).await.status, 201);
        assert_eq!(call(&state, "POST", "/proxies", create).await, error(409, "proxy already exists"));
        assert_eq!(call(&state, "GET", "/proxies/p/toxics/t", "").await, error(404, "toxic not found"));
        assert_eq!(call(&state, "DELETE", "/proxies/p/toxics/t", "").await, error(404, "toxic not found"));
        let r = call(&state, "POST", "/proxies/p/toxics", r#"{"type":"bogus"}"#).await;
        assert_eq!(r.status, 400);
        let r = call(&state, "POST", "/proxies/p/toxics", r#"{"type":"latency","stream":"sideways"}"#).await;
        assert_eq!(r, error(400, "stream was invalid, can be either upstream or downstream"));
        let r = call(&state, "POST", "/proxies/p/toxics", r#"{"type":"latency","attributes":{"latency":"x"}}"#).await;
        assert_eq!(r.status, 400);
        let r = call(&state, "POST", "/proxies/p/toxics", r#"{"type":"latency","attributes":{"latency":5}}"#).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            Some(json!({"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1.0,
                        "attributes":{"latency":5,"jitter":0}}))
        );
        let r = call(&state, "POST", "/proxies/p/toxics", r#"{"type":"latency"}"#).await;
        assert_eq!(r, error(409, "toxic already exists"));
        assert_eq!(call(&state, "PUT", "/proxies/p", "").await.status, 405);
        assert_eq!(call(&state, "GET", "/nothing", "").await.status, 404);
        assert_eq!(handle(&state, "GET", "/version", b"", "Mozilla/5.0").await.status, 403);
    }

    #[tokio::test]
    async fn update_merges_attributes_and_keeps_identity() {
        let state = State::default();
        let create = r#"{"name":"p","upstream":"127.0.0.1:9","enabled":false}"#;
        call(&state, "POST", "/proxies", create).await;
        call(&state, "POST", "/proxies/p/toxics", r#"{"name":"l","type":"latency","attributes":{"jitter":3}}"#).await;
        let r = call(&state, "POST", "/proxies/p/toxics/l", r#"{"attributes":{"latency":7},"toxicity":0.5}"#).await;
        assert_eq!(r.body.as_ref().and_then(|b| b.get("attributes")).cloned(), Some(json!({"latency":7,"jitter":3})));
        assert_eq!(r.body.as_ref().and_then(|b| b.get("toxicity")).cloned(), Some(json!(0.5)));
        assert_eq!(call(&state, "DELETE", "/proxies/p/toxics/l", "").await, Reply::no_content());
        assert_eq!(call(&state, "GET", "/proxies/p/toxics", "").await, Reply::json(200, json!([])));
    }
}
