"""A Python client generated from /openapi.json by openapi-python-client drives the contract.

Nobody here wrote the client: whatever makes it awkward to generate or to use (an unreadable
operation id, an untyped answer, a file sent as text) shows up as a failure here.
"""

import csv
import importlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import wait_until_mail_is_sent
from tests.helpers import PASSWORD
from tests.served import served_app
from tests.smtp import SmtpServer
from tests.test_accounts import token_in


@pytest.fixture
def server(client: TestClient) -> Iterator[Any]:
    # `client` empties the database first.
    with served_app({}) as served:
        yield served


@pytest.fixture
def generated(server: Any, tmp_path: Path) -> Iterator[ModuleType]:
    """The package openapi-python-client makes of the served app's document."""
    schema = tmp_path / "openapi.json"
    schema.write_bytes(server.get("/openapi.json").content)
    bin_folder = os.path.dirname(sys.executable)  # its ruff formats the generated code
    result = subprocess.run(
        [
            os.path.join(bin_folder, "openapi-python-client"),
            "generate",
            "--path", str(schema),
            "--output-path", str(tmp_path / "contacts_api_client"),
            "--meta", "none",
        ],
        env=os.environ | {"PATH": f"{bin_folder}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    # Generated without a warning: no operation or schema was left out.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("contacts_api_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("contacts_api_client")]:
            del sys.modules[name]


def module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def operation(package: ModuleType, tag: str, operation_id: str) -> Any:
    """The generated module of one operation, with its `sync` and `sync_detailed`."""
    return module(package, f"api.{tag}.{operation_id}")


def test_a_generated_client_drives_the_whole_contract(
    server: Any, generated: ModuleType, mailbox: SmtpServer
) -> None:
    with generated.Client(base_url=str(server.base_url)) as anonymous:
        tokens = sign_up_and_log_in(generated, anonymous)
        with generated.AuthenticatedClient(
            base_url=str(server.base_url), token=tokens.access_token
        ) as ann:
            keep_an_address_book(generated, ann)
            manage_the_account(generated, ann, anonymous, mailbox, str(server.base_url))


def sign_up_and_log_in(generated: ModuleType, anonymous: Any) -> Any:
    """Sign up, log in, refresh: the tokens of the refreshed session."""
    models = module(generated, "models")
    auth = partial(operation, generated, "auth")
    user = auth("create_user").sync(
        client=anonymous, body=models.UserCreate(email="Ann@Example.com", password=PASSWORD)
    )
    assert isinstance(user, models.UserPublic)
    assert user.email == "ann@example.com"
    login = auth("issue_tokens").sync(
        client=anonymous,
        body=models.TokenRequest(username="ann@example.com", password=PASSWORD),
    )
    assert isinstance(login, models.Token)
    assert login.token_type == "bearer"
    refreshed = auth("issue_tokens").sync(
        client=anonymous,
        body=models.TokenRequest(
            grant_type=models.TokenRequestGrantType.REFRESH_TOKEN,
            refresh_token=login.refresh_token,
        ),
    )
    assert isinstance(refreshed, models.Token)
    assert refreshed.refresh_token != login.refresh_token
    wrong = auth("issue_tokens").sync(
        client=anonymous, body=models.TokenRequest(username="ann@example.com", password="nope")
    )
    assert isinstance(wrong, models.ErrorMessage)
    assert wrong.detail == "Incorrect email or password"
    return refreshed


def keep_an_address_book(generated: ModuleType, ann: Any) -> None:
    """Create, list, search, birthdays, update, export, import, delete."""
    models = module(generated, "models")
    users = partial(operation, generated, "users")
    contacts = partial(operation, generated, "contacts")
    files = partial(operation, generated, "import_and_export")
    me = users("read_current_user").sync(client=ann)
    assert isinstance(me, models.UserPublic)
    assert me.email == "ann@example.com"

    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    birthday = date(1992, tomorrow.month, tomorrow.day).isoformat()  # 1992 has a 29 February
    carol = contacts("create_contact").sync(
        client=ann,
        body=models.ContactCreate(
            first_name="Carol",
            last_name="Jones",
            email="carol@example.com",
            phone="+1 555 010 0199",
            birthday=birthday,
        ),
    )
    assert isinstance(carol, models.ContactPublic)
    assert (carol.birthday, carol.emails[0].address) == (birthday, "carol@example.com")
    # The new model's lists, and a contact that is only a company sharing Carol's email.
    acme = contacts("create_contact").sync(
        client=ann,
        body=models.ContactCreate(
            company="Acme",
            emails=[models.ContactEmailIn(address="carol@example.com", label="work")],
            phones=[
                models.ContactPhoneIn(number="555 0100", label="office"),
                models.ContactPhoneIn(number="555 0101"),
            ],
            birthday="--01-01",
        ),
    )
    assert isinstance(acme, models.ContactPublic)
    assert ([phone.number for phone in acme.phones], acme.phone) == (
        ["555 0100", "555 0101"],
        "555 0100",
    )
    response = contacts("delete_contact").sync_detailed(acme.id, client=ann)
    assert response.status_code == 204

    page = contacts("read_contacts").sync(client=ann)
    assert isinstance(page, models.ContactPage)
    assert ([contact.id for contact in page.items], page.total) == ([carol.id], 1)
    found = contacts("read_contacts").sync(client=ann, q="car jon")
    assert [contact.email for contact in found.items] == ["carol@example.com"]
    assert contacts("read_contacts").sync(client=ann, q="nobody").total == 0
    invalid = contacts("read_contacts").sync(client=ann, limit=500)
    assert isinstance(invalid, models.HTTPValidationError)
    assert [problem.loc for problem in invalid.detail] == [["query", "limit"]]
    upcoming = contacts("read_upcoming_birthdays").sync(client=ann, days=7)
    assert [(entry.id, entry.next_birthday) for entry in upcoming] == [(carol.id, tomorrow)]

    updated = contacts("update_contact").sync(
        carol.id, client=ann, body=models.ContactUpdate(phone="+44 20 7946 0958")
    )
    assert isinstance(updated, models.ContactPublic)
    assert (updated.phone, updated.first_name) == ("+44 20 7946 0958", "Carol")
    exported = files("export_contacts").sync(client=ann, format_=models.ExportContactsFormat.CSV)
    # Google Contacts' layout: the names, then the numbered groups of each kind.
    (row,) = csv.DictReader(io.StringIO(exported))
    assert [
        row[column] for column in ("First Name", "Last Name", "E-mail 1 - Value", "Phone 1 - Value")
    ] == ["Carol", "Jones", "carol@example.com", "+44 20 7946 0958"]
    upload = generated.types.File(payload=io.BytesIO(exported.encode()), file_name="contacts.csv")
    report = files("import_contacts").sync(client=ann, body=models.BodyImportContacts(file=upload))
    assert isinstance(report, models.ImportReport)
    assert (report.created, [record.item for record in report.skipped]) == (0, [1])

    response = contacts("delete_contact").sync_detailed(carol.id, client=ann)
    assert response.status_code == 204
    missing = contacts("read_contact").sync(carol.id, client=ann)
    assert isinstance(missing, models.ErrorMessage)
    assert missing.detail == "Contact not found"


def manage_the_account(
    generated: ModuleType, ann: Any, anonymous: Any, mailbox: SmtpServer, base_url: str
) -> None:
    """Verify the email, rename, recover the password, change the email, delete the account,
    each message read from the tests' SMTP server."""
    models = module(generated, "models")
    auth = partial(operation, generated, "auth")
    users = partial(operation, generated, "users")
    [welcome] = [m for m in mailbox.wait_for(1) if m["Subject"] == "Confirm your email address"]
    response = auth("verify_email").sync_detailed(
        client=anonymous, body=models.EmailToken(token=token_in(welcome))
    )
    assert response.status_code == 204
    again = auth("request_verification_email").sync(client=ann)
    assert isinstance(again, models.Message)
    assert again.detail == "Your email address is verified already"

    renamed = users("update_current_user").sync(
        client=ann, body=models.UserUpdate(full_name="Ann Lee")
    )
    assert isinstance(renamed, models.UserPublic)
    assert (renamed.full_name, renamed.email_verified) == ("Ann Lee", True)

    wait_until_mail_is_sent()
    mailbox.clear()
    accepted = auth("request_password_reset").sync(
        client=anonymous, body=models.PasswordForgotten(email="ann@example.com")
    )
    assert isinstance(accepted, models.Message)
    [message] = mailbox.wait_for(1)
    response = auth("reset_password").sync_detailed(
        client=anonymous,
        body=models.PasswordReset(token=token_in(message), new_password="battery staple horse"),
    )
    assert response.status_code == 204
    # The reset ended the session of `ann`: log in again with the new password.
    login = auth("issue_tokens").sync(
        client=anonymous,
        body=models.TokenRequest(username="ann@example.com", password="battery staple horse"),
    )
    assert isinstance(login, models.Token)
    with generated.AuthenticatedClient(base_url=base_url, token=login.access_token) as again_ann:
        moved = users("update_current_user").sync(
            client=again_ann,
            body=models.UserUpdate(
                email="ann@new.example", current_password="battery staple horse"
            ),
        )
        assert isinstance(moved, models.UserPublic)
        assert (moved.email, moved.email_verified) == ("ann@new.example", False)
        response = users("delete_current_user").sync_detailed(
            client=again_ann, body=models.AccountDeletion(current_password="battery staple horse")
        )
        assert response.status_code == 204
        gone = users("read_current_user").sync_detailed(client=again_ann)
        assert gone.status_code == 401
