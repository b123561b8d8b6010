"""A real MariaDB server (Debian 12's, 10.11) on the throwaway test host: the customer's database.

It runs inside the host's mount namespace with its data directory on the operational drive and the
socket every Debian client uses by default (/run/mysqld/mysqld.sock, on the host's own /run), no
network. The host's teardown ends it with every other process of the namespace.
"""

from __future__ import annotations

import shlex
import time

import pytest

from tests.conftest import IN_CI

SOCKET = "/run/mysqld/mysqld.sock"
# The host's own tmpdir (on its private /run): a starting server deletes every `#sql*` file in its
# tmpdir, and the machine's /tmp is shared by the tests running side by side.
TMPDIR = "/run/mysqld/tmp"
CLIENT = f"mariadb --no-defaults --socket={SOCKET} --user=root --default-character-set=utf8mb4"

# The customer's data: tables, a view, a trigger, a procedure, an event, rows with text and numbers.
SCHEMA = """
CREATE TABLE calls (id INT PRIMARY KEY, agent VARCHAR(40), started DATETIME, seconds INT, note TEXT);
CREATE TABLE tickets (id INT PRIMARY KEY AUTO_INCREMENT, subject VARCHAR(200), body MEDIUMTEXT);
CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, what VARCHAR(60));
CREATE VIEW long_calls AS SELECT id, agent FROM calls WHERE seconds > 300;
CREATE TRIGGER tickets_audit AFTER INSERT ON tickets FOR EACH ROW INSERT INTO audit (what) VALUES ('ticket');
CREATE PROCEDURE calls_of(IN who VARCHAR(40)) SELECT * FROM calls WHERE agent = who;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM audit WHERE id < 0;
"""


def need_mariadb(host) -> None:
    found = host.run("for tool in mariadbd mariadb-install-db mariadb mariadb-dump mariadb-admin; do "
                     "command -v $tool; done").stdout.split()
    if len(found) < 5:
        message = "MariaDB server and client (apt-get install mariadb-server mariadb-client) are needed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def start(host, datadir: str, user: str = "root") -> None:
    """Initialise `datadir` if it is empty and start the server on it, running as `user` (Debian's
    own server runs as `mysql`, which then owns its data directory)."""
    need_mariadb(host)
    owned = f"chown -R {user}:{user} /run/mysqld {datadir} && " if user != "root" else ""
    initialised = host.run(
        f"mkdir -p {TMPDIR} {datadir} && chmod 700 {datadir} && {owned}"
        f"{{ [ -d {datadir}/mysql ] || mariadb-install-db --no-defaults --datadir={datadir} "
        f"--auth-root-authentication-method=socket --skip-test-db --user={user} --tmpdir={TMPDIR} >/dev/null; }}")
    assert initialised.returncode == 0, initialised.stderr
    host.run(f"nohup mariadbd --no-defaults --datadir={datadir} --socket={SOCKET} --skip-networking "
             f"--user={user} --tmpdir={TMPDIR} --pid-file=/run/mysqld/mysqld.pid --log-error=/run/mysqld/error.log "
             ">/dev/null 2>&1 &")
    deadline = time.monotonic() + 60
    while host.run(f"{CLIENT} -e 'SELECT 1'").returncode != 0:
        assert time.monotonic() < deadline, host.run("cat /run/mysqld/error.log").stdout[-2000:]
        time.sleep(0.2)


def stop(host) -> None:
    assert host.run(f"mariadb-admin --no-defaults --socket={SOCKET} --user=root shutdown").returncode == 0
    deadline = time.monotonic() + 60
    while host.run("test -e /run/mysqld/mysqld.pid").returncode == 0:
        assert time.monotonic() < deadline, "the database server did not stop"
        time.sleep(0.2)


def sql(host, statement: str, database: str = "") -> str:
    result = host.run(f"{CLIENT} --batch --skip-column-names -e {shlex.quote(statement)} {database}")
    assert result.returncode == 0, result.stderr[-800:]
    return result.stdout


def fill(host, database: str, rows: int = 400) -> None:
    """The customer's database with its objects and data."""
    sql(host, f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    sql(host, SCHEMA, database)
    values = ", ".join(f"({i}, 'agent-{i % 7}', '2026-11-{1 + i % 25:02d} 10:{i % 60:02d}:00', {i * 13 % 900}, "
                       f"'note {i} ěščřžýáíé')" for i in range(rows))
    sql(host, f"INSERT INTO calls VALUES {values}", database)
    tickets = ", ".join(f"('subject {i}', REPEAT('body {i} ', {1 + i % 50}))" for i in range(rows // 2))
    sql(host, f"INSERT INTO tickets (subject, body) VALUES {tickets}", database)


def checksums(host, database: str) -> dict[str, int]:
    """Every base table's CHECKSUM TABLE ... EXTENDED."""
    tables = sql(host, "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                       f"'{database}' AND table_type = 'BASE TABLE' ORDER BY table_name").split()
    listed = ", ".join(f"`{database}`.`{t}`" for t in tables)
    out = {}
    for line in sql(host, f"CHECKSUM TABLE {listed} EXTENDED").splitlines():
        table, value = line.rsplit("\t", 1)
        out[table.split(".", 1)[1]] = int(value)
    return out


def routines(host, database: str) -> list[str]:
    return sql(host, f"SELECT CONCAT(routine_type, ' ', routine_name) FROM information_schema.routines "
                     f"WHERE routine_schema = '{database}' UNION ALL SELECT CONCAT('EVENT ', event_name) FROM "
                     f"information_schema.events WHERE event_schema = '{database}' UNION ALL SELECT CONCAT("
                     f"'TRIGGER ', trigger_name) FROM information_schema.triggers WHERE trigger_schema = "
                     f"'{database}' UNION ALL SELECT CONCAT('VIEW ', table_name) FROM information_schema.views "
                     f"WHERE table_schema = '{database}' ORDER BY 1").splitlines()
