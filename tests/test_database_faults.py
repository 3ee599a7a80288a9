"""With the database gone the API says 503 promptly, and once it is back nothing is lost.

These tests run the app under uvicorn against a PostgreSQL cluster of their own, which they
stop and start.
"""

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import PASSWORD, contact_data, new_user
from tests.pgcluster import can_start_cluster, start_cluster
from tests.served import migrate, served_app
from tests.untested import NO_PG_CTL

pytestmark = pytest.mark.skipif(not can_start_cluster(), reason=NO_PG_CTL)


@pytest.fixture
def cluster() -> Iterator[tuple[str, Any]]:
    url, executor = start_cluster()
    database_url = url.render_as_string(hide_password=False)
    migrate(database_url)
    yield database_url, executor
    executor.stop()


def test_requests_get_a_prompt_503_while_the_database_is_down_and_recover_after(
    cluster: tuple[str, Any],
) -> None:
    database_url, executor = cluster
    with served_app({"DATABASE_URL": database_url}) as client:
        headers = new_user(client, "ann@example.com")
        assert client.get("/api/contacts", headers=headers).status_code == 200
        executor.stop()
        for path in ("/api/contacts", "/api/users/me", "/health/ready"):
            started = time.monotonic()
            response = client.get(path, headers=headers)
            assert response.status_code == 503, (path, response.text)
            assert time.monotonic() - started < 6, path
        assert client.get("/health").status_code == 200
        executor.start()
        # The pool replaces its dead connections by itself: no 500 on the first requests.
        codes = [client.get("/api/contacts", headers=headers).status_code for _ in range(20)]
        assert codes == [200] * 20
        assert client.get("/health/ready").json() == {"status": "ok"}


def test_a_restart_between_two_requests_costs_no_request_a_503(
    cluster: tuple[str, Any],
) -> None:
    # The pool pings no connection before a request (db.py): after a restart that no request
    # saw, the first statement of each meets a dead pooled connection and runs once more on a
    # new one (deps.first_statement, and the login's lookup).
    database_url, executor = cluster
    with served_app({"DATABASE_URL": database_url}) as client:
        headers = new_user(client, "ann@example.com")
        contact = client.post("/api/contacts", headers=headers, json=contact_data()).json()
        for _ in range(3):  # a few pooled connections, all to be killed
            assert client.get("/api/contacts", headers=headers).status_code == 200
        executor.stop()
        executor.start()
        requests = [
            ("GET", f"/api/contacts/{contact['id']}", None),
            ("GET", "/api/contacts", None),
            ("GET", "/api/users/me", None),
            ("PATCH", f"/api/contacts/{contact['id']}", {"notes": "after the restart"}),
        ]
        codes = [
            client.request(method, path, headers=headers, json=body).status_code
            for method, path, body in requests
        ]
        assert codes == [200, 200, 200, 200]
        login = {"username": "ann@example.com", "password": PASSWORD}
        executor.stop()
        executor.start()
        assert client.post("/api/auth/token", data=login).status_code == 200
        executor.stop()
        executor.start()
        signup = {"email": "bob@example.com", "password": PASSWORD}
        assert client.post("/api/auth/signup", json=signup).status_code == 201


def test_no_acknowledged_contact_is_lost_when_the_database_restarts(
    cluster: tuple[str, Any],
) -> None:
    database_url, executor = cluster
    with served_app({"DATABASE_URL": database_url}) as client:
        headers = new_user(client, "ann@example.com")
        outcomes: dict[str, int] = {}
        stop = threading.Event()

        def create_contacts(writer: int) -> None:
            for number in range(10_000):
                if stop.is_set():
                    return
                email = f"w{writer}-{number}@example.com"
                data = contact_data(email=email)
                outcomes[email] = client.post(
                    "/api/contacts", headers=headers, json=data
                ).status_code

        writers = [threading.Thread(target=create_contacts, args=(n,)) for n in range(4)]
        for writer in writers:
            writer.start()
        time.sleep(1)
        executor.stop()
        time.sleep(1)
        executor.start()
        time.sleep(2)
        stop.set()
        for writer in writers:
            writer.join(timeout=60)

        created = {email for email, code in outcomes.items() if code == 201}
        assert set(outcomes.values()) <= {201, 503}, sorted(set(outcomes.values()))
        assert 503 in outcomes.values()
        assert len(created) > 20
        stored = set()
        for offset in range(0, len(outcomes) + 100, 100):
            page = client.get(
                "/api/contacts", headers=headers, params={"limit": 100, "offset": offset}
            ).json()
            stored |= {item["email"] for item in page["items"]}
        assert stored == created
