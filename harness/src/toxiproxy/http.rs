//! Just enough HTTP/1.1 to serve toxiproxy's API: one request at a time per connection,
//! keep-alive, `Content-Length` or chunked bodies, `Expect: 100-continue`. Request heads are
//! parsed by `httparse`; anything malformed gets a 400 in toxiproxy's error JSON and the
//! connection is closed. A full HTTP stack would cost more to build than the whole API.

use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::api::{self, ApiError, Reply, State};

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 4 * 1024 * 1024;

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    user_agent: String,
    /// The client asked to close after this request (or speaks HTTP/1.0 without keep-alive).
    close: bool,
}

enum ReadError {
    /// The client went away; nothing to answer.
    Closed,
    /// A request we cannot serve: answer this and close.
    Bad(ApiError),
}

fn bad(status: u16, message: impl Into<String>) -> ReadError {
    ReadError::Bad(ApiError { message: message.into(), status })
}

/// Serves requests on one connection until the client closes it.
pub async fn serve_connection(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buf).await {
            Ok(r) => r,
            Err(ReadError::Closed) => return,
            Err(ReadError::Bad(e)) => {
                let _ = write_reply(&mut stream, &e.reply(), true).await;
                return;
            }
        };
        let reply = api::handle(&state, &request.method, &request.path, &request.body, &request.user_agent).await;
        if write_reply(&mut stream, &reply, request.close).await.is_err() || request.close {
            return;
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), ReadError> {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => Err(ReadError::Closed),
        Ok(n) => {
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            Ok(())
        }
    }
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Request, ReadError> {
    let (head_len, mut request, content_length, chunked, expect_continue) = loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(buf) {
                Ok(httparse::Status::Complete(n)) => break parse_head(&req, n)?,
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(bad(400, format!("malformed HTTP request: {e}"))),
            }
        }
        if buf.len() > MAX_HEAD {
            return Err(bad(431, "request head too large"));
        }
        read_more(stream, buf).await?;
    };
    buf.drain(..head_len);
    if expect_continue && (chunked || content_length.unwrap_or(0) > buf.len()) {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.map_err(|_| ReadError::Closed)?;
    }
    request.body = if chunked {
        read_chunked(stream, buf).await?
    } else {
        let len = content_length.unwrap_or(0);
        while buf.len() < len {
            read_more(stream, buf).await?;
        }
        buf.drain(..len).collect()
    };
    Ok(request)
}

/// The request line and headers; the body is read after.
fn parse_head(
    req: &httparse::Request<'_, '_>,
    head_len: usize,
) -> Result<(usize, Request, Option<usize>, bool, bool), ReadError> {
    let method = req.method.unwrap_or_default().to_string();
    let target = req.path.unwrap_or("/");
    let path = percent_decode(target.split('?').next().unwrap_or_default())
        .ok_or_else(|| bad(400, format!("bad path {target:?}")))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut expect_continue = false;
    let mut user_agent = String::new();
    // HTTP/1.1 keeps the connection by default, HTTP/1.0 closes it.
    let mut close = req.version != Some(1);
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let value = value.trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| bad(400, format!("bad Content-Length {value:?}")))?;
            if n > MAX_BODY {
                return Err(bad(413, format!("request body over {MAX_BODY} bytes")));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().split(',').any(|t| t.trim() == "chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.split(',').any(|t| t.trim() == "close") {
                close = true;
            } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                close = false;
            }
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if h.name.eq_ignore_ascii_case("user-agent") {
            user_agent = value.to_string();
        }
    }
    let request = Request { method, path, body: Vec::new(), user_agent, close };
    Ok((head_len, request, content_length, chunked, expect_continue))
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let (start, size) = loop {
            match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete((start, size))) => break (start, size),
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => read_more(stream, buf).await?,
                _ => return Err(bad(400, "malformed chunked body")),
            }
        };
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(bad(413, format!("request body over {MAX_BODY} bytes")));
        }
        if size == 0 {
            buf.drain(..start);
            // Trailers, if any, end with an empty line.
            loop {
                if buf.starts_with(b"\r\n") {
                    buf.drain(..2);
                    return Ok(body);
                }
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    buf.drain(..end + 4);
                    return Ok(body);
                }
                if buf.len() > MAX_HEAD {
                    return Err(bad(400, "malformed chunked body"));
                }
                read_more(stream, buf).await?;
            }
        }
        while buf.len() < start + size + 2 {
            read_more(stream, buf).await?;
        }
        body.extend_from_slice(buf.get(start..start + size).unwrap_or_default());
        if buf.get(start + size..start + size + 2) != Some(b"\r\n") {
            return Err(bad(400, "malformed chunked body"));
        }
        buf.drain(..start + size + 2);
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn write_reply(stream: &mut TcpStream, reply: &Reply, close: bool) -> std::io::Result<()> {
    let reason = match reply.status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "",
    };
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", reply.status).into_bytes();
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    match &reply.body {
        Some(body) => {
            let body = serde_json::to_vec(body).unwrap_or_default();
            out.extend_from_slice(
                format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
            );
            out.extend_from_slice(&body);
        }
        None => out.extend_from_slice(b"\r\n"),
    }
    stream.write_all(&out).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_decoded() {
        assert_eq!(percent_decode("/proxies/a%20b").as_deref(), Some("/proxies/a b"));
        assert_eq!(percent_decode("/proxies/%zz"), None);
        assert_eq!(percent_decode("/proxies/%2"), None);
    }

    async fn exchange(raw: &[u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.expect("accept");
            serve_connection(s, Arc::new(State::default())).await;
        });
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(raw).await.expect("write");
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.expect("read");
        server.await.expect("server task");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn keep_alive_chunked_and_malformed_requests() {
        let two = exchange(
            b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
              5\r\n{\"nam\r\n5\r\ne\":1}\r\n0\r\n\r\n",
        )
        .await;
        assert!(two.starts_with("HTTP/1.1 200 OK\r\n"), "{two}");
        assert!(two.contains(r#"{"version":"#), "{two}");
        assert!(two.contains("HTTP/1.1 400 Bad Request\r\n"), "{two}");
        assert!(two.contains(r#""name\" must be a string"#), "{two}");

        let garbage = exchange(b"NOT HTTP AT ALL\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{garbage}");
        assert!(garbage.contains(r#""status":400"#), "{garbage}");
    }
}
