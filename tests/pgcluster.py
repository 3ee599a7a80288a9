"""A throwaway PostgreSQL cluster for the tests, started with the installed server programs.

pytest-postgresql drives `pg_ctl`. PostgreSQL refuses to run as root, so as root (as in CI)
`pg_ctl` runs through a small wrapper as the `postgres` system user, in a folder it owns.
"""

import glob
import os
import pwd
import shutil
import socket
import stat
import tempfile

from pytest_postgresql.executors import PostgreSQLExecutor
from sqlalchemy import URL, make_url


def find_pg_ctl() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return candidates[0] if candidates else None


def can_start_cluster() -> bool:
    if find_pg_ctl() is None:
        return False
    if os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return shutil.which("runuser") is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_cluster() -> tuple[URL, PostgreSQLExecutor]:
    """Start a new cluster on a free port; return its URL and the executor that stops it."""
    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        raise RuntimeError("pg_ctl is not installed")
    workdir = tempfile.mkdtemp(prefix="contacts-api-pg-")
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(workdir, postgres.pw_uid, postgres.pw_gid)
        wrapper = os.path.join(workdir, "pg_ctl")
        with open(wrapper, "w") as script:
            script.write(f'#!/bin/sh\nexec runuser -u postgres -- {pg_ctl} "$@"\n')
        os.chmod(wrapper, stat.S_IRWXU)
        pg_ctl = wrapper
    port = free_port()
    executor = PostgreSQLExecutor(
        executable=pg_ctl,
        host="127.0.0.1",
        port=port,
        datadir=os.path.join(workdir, "data"),
        unixsocketdir=workdir,
        logfile=os.path.join(workdir, "postgresql.log"),
        startparams="-w",
        dbname="postgres",
        user="postgres",
    )
    executor.start()
    return make_url(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"), executor
