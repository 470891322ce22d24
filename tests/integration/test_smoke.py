"""The harness itself: a real daemon answers, and stops cleanly."""


def test_python_hello(client):
    r = client.execute("print('hello')", language="python")
    assert r.status == "ok", r
    assert r.stdout == "hello\n"


def test_javascript_hello(client):
    r = client.execute("console.log('hello')", language="javascript")
    assert r.status == "ok", r
    assert r.stdout == "hello\n"


def test_own_daemon_stops_cleanly(daemon_factory):
    d = daemon_factory({"languages": {"javascript": {"pool_size": 0}}})
    with d.client() as c:
        assert c.execute("print(1+1)").stdout == "2\n"
    assert d.stop() == 0
