"""Small steps that many tests take: sign up, log in, add a contact.

They take any HTTP client: the in-process TestClient or one of a served app.
"""

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx

PASSWORD = "correct horse battery"


def sign_up(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def log_in(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def new_user(client: httpx.Client, email: str) -> dict[str, str]:
    """Sign up `email`, log in, and return the headers that authenticate as them."""
    sign_up(client, email)
    return bearer(log_in(client, email))


def contact_data(**fields: Any) -> dict[str, Any]:
    data = {
        "first_name": "Carol",
        "last_name": "Jones",
        "email": "carol@example.com",
        "phone": "+1 555 010 0199",
        "birthday": "1990-05-17",
        "notes": None,
    }
    return data | fields


def first_model_public(data: dict[str, Any]) -> dict[str, Any]:
    """What the API answers for a body of the first model's fields (`email`, `phone`, ...):
    every other field empty. (Without `id` and the timestamps.)"""
    email, phone = data.get("email"), data.get("phone")
    return {
        "first_name": data.get("first_name"),
        "last_name": data.get("last_name"),
        "company": None,
        "job_title": None,
        "email": email,
        "phone": phone,
        "emails": [] if email is None else [{"address": email, "label": None}],
        "phones": [] if phone is None else [{"number": phone, "label": None}],
        "addresses": [],
        "websites": [],
        "birthday": data.get("birthday"),
        "notes": data.get("notes"),
        "favorite": data.get("favorite", False),
        "labels": data.get("labels", []),
    }


def create_contact(client: httpx.Client, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/contacts", headers=headers, json=contact_data(**fields))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_too_many(response: Any, window_seconds: int, burst_started: float) -> None:
    """A 429 whose Retry-After is when the burst's first request leaves the moving window:
    the whole window, less the seconds the burst took (and one for rounding up)."""
    assert response.status_code == 429
    assert response.json() == {"detail": "Too many requests; try again later"}
    elapsed = math.ceil(time.monotonic() - burst_started)
    assert window_seconds - elapsed - 1 <= int(response.headers["retry-after"]) <= window_seconds


def race(client: Any, calls: list[tuple[str, str, dict[str, str], Any]]) -> list[int]:
    """Send the requests (method, url, headers, body: JSON, or bytes as they are) at once:
    every thread waits at a barrier, then sends. Their status codes, in the order given."""
    barrier = threading.Barrier(len(calls))

    def call(method: str, url: str, headers: dict[str, str], body: Any) -> int:
        sent = {"content": body} if isinstance(body, bytes) else {"json": body}
        barrier.wait()
        return int(client.request(method, url, headers=headers, **sent).status_code)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call, *arguments) for arguments in calls]
        return [future.result() for future in futures]
