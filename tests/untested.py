"""What this machine lacks for some tests, in one place: the tests skip with these reasons,
and `make test` says them before and after its runs (`python -m tests.untested`), so that
nobody believes a behaviour was checked when it was not."""

import os
import shutil

from tests.pgcluster import can_start_cluster

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")

NO_CHROMIUM = (
    "Chromium is not installed, so the browser tests (Swagger UI, ReDoc) are skipped: "
    "install it with `sudo apt-get install chromium`, or name a binary in CHROMIUM_PATH"
)
NO_PG_CTL = (
    "PostgreSQL's server programs (pg_ctl) are not installed, so the database-outage tests "
    "(a server stopped under the app) are skipped: install them "
    "(Debian: `sudo apt-get install postgresql`)"
)


def missing() -> list[str]:
    notes = []
    if CHROMIUM is None:
        notes.append(NO_CHROMIUM)
    if not can_start_cluster():
        notes.append(NO_PG_CTL)
    return notes


if __name__ == "__main__":
    for note in missing():
        print(f"NOTE: {note}")
