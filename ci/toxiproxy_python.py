"""Drive the embedded toxiproxy server with toxiproxy's Python client (toxiproxy-python), which
nobody here wrote: create a proxy, pass traffic, add, list and remove toxics, disable, reset,
and check the client's own error classes for 409, 400 and 404. Exits non-zero with a message
naming what went wrong; prints "ok" when everything held.

usage: toxiproxy_python.py API_HOST:API_PORT UPSTREAM_HOST:UPSTREAM_PORT
(the upstream must echo what it receives)
"""
import socket
import sys
import time

from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists


def fail(msg):
    raise SystemExit(f"toxiproxy-python: {msg}")


def expect_raises(exc, fn, what):
    try:
        fn()
    except exc:
        return
    fail(f"{what}: expected {exc.__name__}")


def round_trip(listen, payload=b"ping"):
    """Seconds for payload to come back through the proxy."""
    host, port = listen.rsplit(":", 1)
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(1024)
            if not chunk:
                fail(f"connection closed after {got!r}")
            got += chunk
    if got != payload:
        fail(f"echo returned {got!r}, sent {payload!r}")
    return time.monotonic() - start


def refused(listen):
    host, port = listen.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def main(api, upstream):
    host, port = api.rsplit(":", 1)
    server = Toxiproxy()
    server.update_api_consumer(host, int(port))
    if not server.running():
        fail(f"no server at {api}")
    if b"version" not in server.version():
        fail(f"unexpected /version answer {server.version()!r}")

    proxy = server.create(upstream=upstream, name="py", listen="127.0.0.1:0")
    if proxy.listen.endswith(":0"):
        fail(f"listen {proxy.listen} does not show the bound port")
    round_trip(proxy.listen)
    expect_raises(ProxyExists, lambda: server.create(upstream=upstream, name="py"), "creating a proxy twice")

    proxy.add_toxic(type="latency", attributes={"latency": 200})
    toxics = proxy.toxics()
    if list(toxics) != ["latency_downstream"] or toxics["latency_downstream"].attributes["latency"] != 200:
        fail(f"toxics listed as {[(t.name, t.attributes) for t in toxics.values()]}")
    took = round_trip(proxy.listen)
    if took < 0.2:
        fail(f"a 200 ms latency toxic gave a {took:.3f} s round trip")
    expect_raises(ProxyExists, lambda: proxy.add_toxic(type="latency"), "adding a toxic twice")
    expect_raises(InvalidToxic, lambda: proxy.add_toxic(type="no_such_toxic"), "an unknown toxic type")
    proxy.destroy_toxic("latency_downstream")
    if proxy.toxics():
        fail("toxic still listed after destroy_toxic")
    expect_raises(NotFound, lambda: proxy.destroy_toxic("latency_downstream"), "removing a removed toxic")

    proxy.add_toxic(type="timeout", name="hold", attributes={"timeout": 0})
    proxy.disable()
    if server.proxies()["py"].enabled or not refused(proxy.listen):
        fail("a disabled proxy still accepts connections")
    if not server.reset():
        fail("reset failed")
    after = server.proxies()["py"]
    if not after.enabled or after.toxics():
        fail("reset did not enable the proxy and remove its toxics")
    round_trip(proxy.listen)

    if not proxy.destroy() or server.get_proxy("py") is not None:
        fail("destroy did not remove the proxy")
    expect_raises(NotFound, proxy.destroy, "destroying a destroyed proxy")
    print("ok")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
