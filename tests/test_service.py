"""Health checks, the docs, the settings the app refuses, and the migrations."""

import json
import os
import re
import sqlite3
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tests.helpers import log_in, new_user


def test_health_says_ok(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_says_ok_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("path", "script"),
    [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")],
)
def test_the_interactive_docs_are_served_with_their_own_scripts(
    client: TestClient, path: str, script: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "/openapi.json" in response.text
    # From this server, not a CDN: the docs work offline and under a same-origin policy.
    assert f'src="/static-offline-docs/{script}"' in response.text
    assert "cdn." not in response.text
    script_response = client.get(f"/static-offline-docs/{script}")
    assert script_response.status_code == 200
    assert len(script_response.content) > 500_000


def test_swagger_authorize_logs_in_through_the_token_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    [scheme] = schema["components"]["securitySchemes"].values()
    assert scheme == {
        "type": "oauth2",
        "flows": {"password": {"scopes": {}, "tokenUrl": "/api/auth/token"}},
    }


def operations(client: TestClient) -> list[dict[str, Any]]:
    schema = client.get("/openapi.json").json()
    return [operation for path in schema["paths"].values() for operation in path.values()]


def test_every_operation_has_a_summary_a_description_and_a_readable_id(
    client: TestClient,
) -> None:
    assert [operation["operationId"] for operation in operations(client)] == [
        "create_user",
        "issue_tokens",
        "log_out",
        "log_out_everywhere",
        "verify_email",
        "request_verification_email",
        "request_password_reset",
        "reset_password",
        "read_current_user",
        "delete_current_user",
        "update_current_user",
        "change_password",
        "read_app_passwords",
        "create_app_password",
        "delete_app_password",
        "create_contact",
        "read_contacts",
        "read_contact",
        "replace_contact",
        "update_contact",
        "delete_contact",
        "read_upcoming_birthdays",
        "read_trash",
        "empty_trash",
        "restore_contact",
        "delete_contact_for_good",
        "read_changes",
        "export_contacts",
        "import_contacts",
        "read_labels",
        "create_label",
        "read_label",
        "rename_label",
        "delete_label",
        "create_birthday_calendar",
        "delete_birthday_calendar",
        "read_birthday_calendar",
        "read_reminders",
        "replace_reminders",
        "read_verify_email_page",
        "read_reset_password_page",
        "read_health",
        "read_readiness",
    ]
    for operation in operations(client):
        assert operation["summary"], operation["operationId"]
        assert operation["description"], operation["operationId"]


def test_every_operation_is_in_one_of_the_docs_groups_in_their_order(client: TestClient) -> None:
    from contacts_api.main import TAGS

    schema = client.get("/openapi.json").json()
    names = [tag["name"] for tag in TAGS]
    assert [tag["name"] for tag in schema["tags"]] == names
    groups = [operation["tags"] for operation in operations(client)]
    assert all(len(tags) == 1 and tags[0] in names for tags in groups), groups
    places = [names.index(tags[0]) for tags in groups]
    assert places == sorted(places)  # the document lists the groups in the order of TAGS


def test_every_error_an_operation_documents_has_an_example(client: TestClient) -> None:
    for operation in operations(client):
        for status, response in operation["responses"].items():
            if status >= "400":
                [content] = response["content"].values()
                assert "example" in content, (operation["operationId"], status)


def test_every_json_request_body_field_has_an_example(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for operation in operations(client):
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            if media_type == "multipart/form-data":
                continue  # a file
            schema = schemas[content["schema"]["$ref"].rsplit("/", 1)[1]]
            if "examples" in schema:  # the body as a whole
                continue
            for name, field in schema["properties"].items():
                if name in schema.get("required", []) or name in ("username", "password"):
                    assert "examples" in field, (operation["operationId"], name)


def test_only_routes_that_can_answer_422_document_it(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    # An id in the path is 1 to 10 digits, or the path is no contact's: 404, never 422.
    assert "422" not in paths["/api/contacts/{contact_id}"]["get"]["responses"]
    assert "422" not in paths["/api/contacts/{contact_id}"]["delete"]["responses"]
    assert "422" in paths["/api/contacts/{contact_id}"]["patch"]["responses"]
    assert "422" in paths["/api/contacts"]["get"]["responses"]


def test_contact_routes_document_their_errors(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    one_contact = paths["/api/contacts/{contact_id}"]
    assert {"401", "404", "412", "422"} <= set(one_contact["put"]["responses"])
    assert {"201", "401", "422"} <= set(paths["/api/contacts"]["post"]["responses"])
    # Two contacts may share an email: no route of the book answers 409 any more.
    assert all("409" not in operation["responses"] for operation in one_contact.values())
    assert "409" not in paths["/api/contacts"]["post"]["responses"]
    assert "204" in one_contact["delete"]["responses"]


REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_app(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY",)}
    environment |= env | {"PYTHONPATH": REPOSITORY}
    return subprocess.run(
        [sys.executable, "-c", "import contacts_api.main"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.join(REPOSITORY, "tests"),  # away from a developer's .env file
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SECRET_KEY: Field required"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY: String should have at least 32 characters"),
        ({"SECRET_KEY": "a" * 40}, "SECRET_KEY: Value error, SECRET_KEY looks like a placeholder"),
        (
            {"SECRET_KEY": "k" * 16 + "0123456789abcdefghij", "BCRYPT_ROUNDS": "3"},
            "BCRYPT_ROUNDS: Input should be greater than or equal to 4",
        ),
    ],
)
def test_the_app_refuses_to_start_with_bad_settings_and_says_why(
    env: dict[str, str], message: str
) -> None:
    result = start_app(**env)
    assert result.returncode == 1
    assert "contacts_api cannot start, invalid settings:" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_the_app_starts_with_a_good_secret_key() -> None:
    result = start_app(SECRET_KEY="k" * 16 + "0123456789abcdefghij")
    assert result.returncode == 0, result.stderr


def alembic(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # DATABASE_URL is the test database
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_the_migrations_match_the_models() -> None:
    result = alembic("check")
    assert result.returncode == 0, result.stderr
    assert "No new upgrade operations detected." in result.stdout + result.stderr


def test_the_migrations_go_down_and_up_again(sync_engine: Any) -> None:
    from sqlalchemy import inspect

    assert alembic("downgrade", "base").returncode == 0
    assert set(inspect(sync_engine).get_table_names()) <= {"alembic_version"}
    up = alembic("upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert {"users", "auth_sessions", "contacts"} <= set(inspect(sync_engine).get_table_names())


def test_migration_0004_computes_the_birthday_keys_of_existing_rows(
    client: TestClient, sync_engine: Any
) -> None:
    new_user(client, "ann@example.com")
    assert alembic("downgrade", "0003").returncode == 0
    # New connections: an open SQLite connection may check a statement against the schema
    # it read before the migration.
    sync_engine.dispose()
    with sync_engine.begin() as connection:
        # A row as a COPY wrote it before: the key left at 0, lost to the birthday list.
        connection.execute(
            text(
                "INSERT INTO contacts (owner_id, first_name, last_name, email, phone, birthday,"
                " birthday_key, created_at, updated_at) SELECT id, 'Old', 'Row',"
                " 'old@example.com', '+1 555 010 0199', '1980-12-31', 0, created_at,"
                " created_at FROM users"
            )
        )
    up = alembic("upgrade", "head")
    assert up.returncode == 0, up.stderr
    with sync_engine.connect() as connection:
        assert connection.execute(text("SELECT birthday_key FROM contacts")).all() == [(1231,)]
    # And back: the plain column keeps the keys the database had computed.
    assert alembic("downgrade", "0003").returncode == 0
    with sync_engine.connect() as connection:
        assert connection.execute(text("SELECT birthday_key FROM contacts")).all() == [(1231,)]
    assert alembic("upgrade", "head").returncode == 0


def test_search_indexes_take_new_entries_at_once(sync_engine: Any) -> None:
    # A GIN pending list makes every search read what was written lately (migration 0003).
    if sync_engine.dialect.name == "sqlite":
        # SQLite has no trigram indexes: its searches scan (migrations 0002 and 0003 skip it).
        with sync_engine.connect() as connection:
            names = connection.execute(text("SELECT name FROM sqlite_master")).scalars().all()
        assert [name for name in names if name.endswith("_trgm")] == []
        return
    with sync_engine.connect() as connection:
        options = dict(
            connection.execute(
                text(
                    "SELECT relname, reloptions FROM pg_class"
                    " WHERE relname LIKE 'ix_contacts_%_trgm' ORDER BY relname"
                )
            ).all()
        )
    assert options == {
        "ix_contacts_company_trgm": ["fastupdate=off"],
        "ix_contacts_emails_trgm": ["fastupdate=off"],
        "ix_contacts_first_name_trgm": ["fastupdate=off"],
        "ix_contacts_last_name_trgm": ["fastupdate=off"],
        "ix_contacts_phone_digits_trgm": ["fastupdate=off"],
    }


SAFE_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def test_every_api_response_carries_the_safe_headers(client: TestClient) -> None:
    responses = [
        client.get("/health"),
        client.get("/api/users/me"),
        client.post("/api/auth/signup", json={}),
        client.get("/api/nowhere"),
    ]
    for response in responses:
        assert {name: response.headers.get(name) for name in SAFE_HEADERS} == SAFE_HEADERS
        assert response.headers["content-security-policy"] == (
            "default-src 'none'; frame-ancestors 'none'"
        )


def test_the_docs_pages_may_load_scripts_from_this_server_only(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
        "frame-ancestors 'none'"
    )


def test_cors_is_off_unless_origins_are_configured(client: TestClient) -> None:
    preflight = client.options(
        "/api/contacts",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    response = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_only_the_configured_origins() -> None:
    from tests.served import served_app

    with served_app({"CORS_ORIGINS": "https://app.example, https://admin.example"}) as server:
        allowed = server.options(
            "/api/contacts",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        refused = server.options(
            "/api/contacts",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        simple = server.get("/health", headers={"Origin": "https://admin.example"})
        assert simple.headers["access-control-allow-origin"] == "https://admin.example"


def failing_with(exc: Exception) -> Any:
    def fail() -> None:
        raise exc

    return fail


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (RuntimeError("a bug, see /work/app.py line 3"), 500, "Internal server error"),
        (
            OperationalError("SELECT x", {}, sqlite3.OperationalError("no such column: x")),
            500,
            "Internal server error",
        ),
        (
            OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
            503,
            "The database is unavailable; try again shortly",
        ),
        (
            OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused")),
            503,
            "The database is unavailable; try again shortly",
        ),
    ],
)
def test_unexpected_errors_answer_json_without_internals(
    client: TestClient, error: Exception, status: int, detail: str
) -> None:
    from contacts_api.deps import get_now
    from contacts_api.main import app

    app.dependency_overrides[get_now] = failing_with(error)
    with TestClient(app, raise_server_exceptions=False) as plain:
        response = plain.get("/api/contacts/birthdays", headers=new_user(plain, "e@example.com"))
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert "SELECT" not in response.text
    assert {name: response.headers.get(name) for name in SAFE_HEADERS} == SAFE_HEADERS


def test_public_emails_are_documented_as_emails(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for model in ("UserPublic", "ContactPublic", "ContactBirthday"):
        assert schemas[model]["properties"]["email"]["format"] == "email", model


def test_every_response_names_its_request(client: TestClient) -> None:
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32
    assert int(generated, 16) >= 0
    assert client.get("/health").headers["x-request-id"] != generated
    given = client.get("/api/users/me", headers={"X-Request-ID": "trace-42.a:b"})
    assert given.headers["x-request-id"] == "trace-42.a:b"
    for unsafe in ("has spaces", "x" * 129, "new\\nline"):
        response = client.get("/health", headers={"X-Request-ID": unsafe})
        assert len(response.headers["x-request-id"]) == 32


def test_json_logs_carry_the_request_id() -> None:
    from tests.served import served_app

    lines: list[str] = []
    with served_app({"LOG_FORMAT": "json"}, "--log-level", "info", output=lines) as server:
        server.get("/api/users/me", headers={"X-Request-ID": "trace-json-1"})
    entries = [json.loads(line) for line in lines if line.strip()]
    assert {"time", "level", "logger", "request_id", "message"} <= set(entries[0])
    [access] = [entry for entry in entries if "/api/users/me" in entry["message"]]
    assert access["request_id"] == "trace-json-1"
    assert access["logger"] == "uvicorn.access"
    assert " 401" in access["message"]


def test_the_access_log_leaves_out_the_secrets_of_urls() -> None:
    """The birthday calendar's address is its key, and the links in messages carry tokens:
    the access log shows neither."""
    from tests.served import served_app

    lines: list[str] = []
    with served_app({}, "--log-level", "info", output=lines) as server:
        server.get("/calendars/birthdays/SecretOfTheCalendar123.ics")
        server.get("/verify-email?token=secret.verification.token")
        server.get("/reset-password?token=secret-reset-token&lang=en")
    access = [line for line in lines if "uvicorn.access" in line and "/health" not in line]
    assert [line.split('"')[1] for line in access] == [
        "GET /calendars/birthdays/***.ics HTTP/1.1",
        "GET /verify-email?token=*** HTTP/1.1",
        "GET /reset-password?token=***&lang=en HTTP/1.1",
    ]
    assert "secret" not in "\n".join(lines).lower().replace("secret_key", "")


def test_metrics_count_requests_per_documented_path(client: TestClient) -> None:
    headers = new_user(client, "ann@example.com")
    before = requests_counted(client, "/api/contacts/{contact_id}", "GET", "4xx")
    for contact_id in (5, 6, 7):
        client.get(f"/api/contacts/{contact_id}", headers=headers)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert requests_counted(client, "/api/contacts/{contact_id}", "GET", "4xx") == before + 3
    # Every label is a path of the OpenAPI document, a page outside it, or "none" for paths
    # that no route serves; never a raw path such as /api/contacts/5, nor the router's
    # spelling {contact_id:id}.
    documented = set(client.get("/openapi.json").json()["paths"])
    labels = set(re.findall(r'handler="([^"]*)"', metrics.text))
    assert "/api/contacts/{contact_id}" in labels
    pages = {"/docs", "/redoc", "/openapi.json", "/static-offline-docs", "none"} | {
        "/verify-email",
        "/reset-password",
        "/account-pages/{name}",
    }
    # CardDAV's paths, which the OpenAPI document leaves out (docs/sync.md describes them),
    # by their templates too.
    carddav = {label for label in labels if label.startswith(("/dav", "/.well-known/"))}
    assert all(re.fullmatch(r"[a-z/._-]*(\{user_id\}[a-z/]*(\{name\})?)?", p) for p in carddav)
    assert labels - documented <= pages | carddav
    assert "/metrics" not in documented


def test_metrics_time_each_path_name_unknown_paths_none_and_skip_themselves(
    client: TestClient,
) -> None:
    headers = new_user(client, "ann@example.com")
    unknown = requests_counted(client, "none", "GET", "4xx")
    timed = requests_timed(client, "/api/users/me", "GET")
    assert client.get("/no/such/path").status_code == 404
    assert client.get("/api/users/me", headers=headers).status_code == 200
    assert client.get("/api/users/me", headers=headers).status_code == 200
    assert requests_counted(client, "none", "GET", "4xx") == unknown + 1
    assert requests_timed(client, "/api/users/me", "GET") == timed + 2
    # Scrapes are not requests of the API: counting them would move every scrape's figures.
    for _ in range(3):
        client.get("/metrics")
    assert requests_counted(client, "/metrics", "GET", "2xx") == 0.0


def requests_timed(client: TestClient, handler: str, method: str) -> float:
    """How many requests the latency histogram holds for `handler` and `method`."""
    wanted = f'http_request_duration_seconds_count{{handler="{handler}",method="{method}"}}'
    for line in client.get("/metrics").text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == wanted:
            return float(value)
    return 0.0


def requests_counted(client: TestClient, handler: str, method: str, status: str) -> float:
    labels = f'handler="{handler}",method="{method}",status="{status}"'
    for line in client.get("/metrics").text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("http_requests_total{") and sorted(name[20:-1].split(",")) == sorted(
            labels.split(",")
        ):
            return float(value)
    return 0.0


def test_metrics_can_be_turned_off() -> None:
    from tests.served import served_app

    with served_app({"METRICS_ENABLED": "false"}) as server:
        assert server.get("/metrics").status_code == 404
        assert server.get("/health").status_code == 200


ODD_ENV_FILE = """\
REDIS_URL=redis://127.0.0.1:1/0
ACCESS_TOKEN_EXPIRE_MINUTES=1
SIGNUPS_PER_HOUR=1
"""


def test_a_developers_env_file_does_not_change_what_the_tests_check(tmp_path: Any) -> None:
    from tests.served import served_app

    (tmp_path / ".env").write_text(ODD_ENV_FILE)
    database = {"DATABASE_URL": os.environ["DATABASE_URL"]}
    # Under the tests' environment the file is not read: the second signup is no 429, no
    # signup a 503 for the Redis on port 1, and access tokens live the default 15 minutes.
    with served_app(database, cwd=str(tmp_path)) as server:
        for email in ("env1@example.com", "env2@example.com"):
            assert sign_up_status(server, email) == 201
        tokens = log_in(server, "env1@example.com")
        assert tokens["expires_in"] == 900
    # With CONTACTS_API_ENV_FILE naming it (unset means `.env`, as for `make run`), it is read.
    with served_app(database | {"CONTACTS_API_ENV_FILE": ".env"}, cwd=str(tmp_path)) as server:
        assert sign_up_status(server, "env3@example.com") == 503


def sign_up_status(client: Any, email: str) -> int:
    body = {"email": email, "password": "correct horse battery"}
    return int(client.post("/api/auth/signup", json=body).status_code)
