"""Tests of chfront, the ClickHouse HTTP front over chDB, through its HTTP interface only.

Run from this folder with the venv's python:  python -m unittest -v
Each test class starts chfront as a subprocess on a free port with a fresh data directory;
the server's log (its failed requests) goes to chfront.log beside that directory.
"""

import base64
import gzip
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
from urllib.parse import urlencode

CHFRONT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chfront.py")
READY_TIMEOUT_SECONDS = 60


class Server:
    """One chfront subprocess; `restart` keeps its data directory."""

    def __init__(self, *extra_args):
        self.root = tempfile.mkdtemp(prefix="chfront-test-")
        self.log_path = os.path.join(self.root, "chfront.log")
        self.extra_args = extra_args
        self.start()

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, CHFRONT, "--port", "0", "--path", os.path.join(self.root, "data"),
                 *self.extra_args],
                stdout=subprocess.PIPE, stderr=log, text=True)
        ready = []
        reader = threading.Thread(target=lambda: ready.append(self.process.stdout.readline()))
        reader.start()
        reader.join(READY_TIMEOUT_SECONDS)
        if not ready or not ready[0].startswith("chfront ready on http://127.0.0.1:"):
            self.process.kill()
            with open(self.log_path) as log:
                raise RuntimeError(f"chfront did not start: {ready}\n{log.read()[-4000:]}")
        self.port = int(ready[0].rsplit(":", 1)[1])

    def stop(self):
        """SIGTERM; returns the exit status."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(30)
        self.process.stdout.close()
        return status

    def close(self):
        if self.process.poll() is None:
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def request(self, body=b"", method="POST", headers=None, connection=None, **params):
        """(status, headers, body) of one request; keyword arguments become URL parameters."""
        conn = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        path = "/?" + urlencode(params) if params else "/"
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        if connection is None:
            conn.close()
        return response.status, response.headers, data

    def query(self, sql, **params):
        """The result of `sql` (sent as the body), failing the test on any error."""
        status, _, data = self.request(sql.encode(), **params)
        if status != 200:
            raise AssertionError(f"HTTP {status}: {data.decode()}")
        return data.decode()


class FrontTest(unittest.TestCase):
    """Behaviour of one server without authentication."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def create_table(self, name, columns="a UInt64, s String", settings=""):
        self.server.query(f"DROP TABLE IF EXISTS {name}")
        self.server.query(
            f"CREATE TABLE {name} ({columns}) ENGINE = MergeTree ORDER BY tuple() {settings}")

    def insert(self, table, rows, **params):
        body = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
        return self.server.request(body, query=f"INSERT INTO {table} FORMAT JSONEachRow", **params)

    def assert_error(self, response, status, code):
        got_status, headers, body = response
        self.assertEqual(got_status, status, body)
        self.assertEqual(headers["X-ClickHouse-Exception-Code"], str(code))
        self.assertTrue(body.startswith(f"Code: {code}. DB::Exception: ".encode()), body)

    def test_ping(self):
        for path in ("/ping", "/"):
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
            conn.request("GET", path)
            response = conn.getresponse()
            self.assertEqual((response.status, response.read()), (200, b"Ok.\n"))
            conn.close()

    def test_insert_json_each_row_then_select(self):
        self.create_table("basic")
        status, headers, body = self.insert("basic", [{"a": 1, "s": "one"}, {"a": 2, "s": "two"}])
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(json.loads(headers["X-ClickHouse-Summary"])["written_rows"], "2")
        self.assertEqual(self.server.query("SELECT a, s FROM basic ORDER BY a"), "1\tone\n2\ttwo\n")
        self.assertEqual(self.server.query("SELECT a FROM basic ORDER BY a FORMAT JSONEachRow"),
                         '{"a":1}\n{"a":2}\n')
        self.assertEqual(self.server.query("SELECT max(a) FROM basic", default_format="CSV"), "2\n")

    def test_statement_in_body_and_values(self):
        self.create_table("in_body")
        self.server.query('INSERT INTO in_body FORMAT JSONEachRow\n{"a": 1, "s": "x"}\n')
        self.server.query("INSERT INTO in_body VALUES (2, 'y')")
        status, _, _ = self.server.request(b"3\tz\n", query="INSERT INTO in_body FORMAT TSV")
        self.assertEqual(status, 200)
        # The data starts after the first newline following the format name, so a query
        # parameter ending in a newline leaves the joining newline as an empty first TSV line.
        self.assert_error(self.server.request(b"4\tw\n", query="INSERT INTO in_body FORMAT TSV\n"),
                          400, 27)
        status, _, _ = self.server.request(b'{"a": 4, "s": "w"}',
                                           query="INSERT INTO in_body FORMAT JSONEachRow\n")
        self.assertEqual(status, 200)
        self.assertEqual(self.server.query("SELECT a, s FROM in_body ORDER BY a"),
                         "1\tx\n2\ty\n3\tz\n4\tw\n")

    def test_gzip_body(self):
        self.create_table("gz")
        rows = b"".join(b'{"a": %d, "s": "row"}\n' % i for i in range(10_000))
        # Two gzip members back to back are one valid gzip body.
        body = gzip.compress(rows[:1000]) + gzip.compress(rows[1000:])
        status, _, data = self.server.request(body, headers={"Content-Encoding": "gzip"},
                                              query="INSERT INTO gz FORMAT JSONEachRow")
        self.assertEqual(status, 200, data)
        status, _, data = self.server.request(gzip.compress(b"SELECT count(), sum(a) FROM gz"),
                                              headers={"Content-Encoding": "gzip"})
        self.assertEqual((status, data), (200, b"10000\t49995000\n"))
        self.assert_error(self.server.request(gzip.compress(b"SELECT 1")[:-8],
                                              headers={"Content-Encoding": "gzip"}), 500, 354)

    def test_chunked_body(self):
        self.create_table("chunked")
        rows = [b'{"a": %d, "s": "chunk"}\n' % i for i in range(1000)]
        # http.client sends an iterable body with Transfer-Encoding: chunked.
        status, _, data = self.server.request(iter(rows),
                                              query="INSERT INTO chunked FORMAT JSONEachRow")
        self.assertEqual(status, 200, data)
        self.assertEqual(self.server.query("SELECT count() FROM chunked"), "1000\n")

    def test_gzip_response_when_accepted(self):
        status, headers, data = self.server.request(b"SELECT 'packed'",
                                                    headers={"Accept-Encoding": "gzip"})
        self.assertEqual((status, headers["Content-Encoding"]), (200, "gzip"))
        self.assertEqual(gzip.decompress(data), b"packed\n")

    def test_insert_deduplication_token_setting(self):
        self.create_table("dedup", settings="SETTINGS non_replicated_deduplication_window = 100")
        row_a, row_b = [{"a": 1, "s": "a"}], [{"a": 2, "s": "b"}]
        self.assertEqual(self.insert("dedup", row_a, insert_deduplication_token="t1")[0], 200)
        self.assertEqual(self.insert("dedup", row_a, insert_deduplication_token="t1")[0], 200)
        # Same token, other data: dropped, which only the token explains.
        self.assertEqual(self.insert("dedup", row_b, insert_deduplication_token="t1")[0], 200)
        self.assertEqual(self.server.query("SELECT a FROM dedup ORDER BY a"), "1\n")
        # Same data, new token: stored.
        self.assertEqual(self.insert("dedup", row_a, insert_deduplication_token="t2")[0], 200)
        self.assertEqual(self.server.query("SELECT count() FROM dedup"), "2\n")

    def test_server_defaults_pinned_and_settings_per_request(self):
        probe = ("SELECT getSetting('async_insert'), getSetting('date_time_input_format'), "
                 "getSetting('max_threads')")
        self.assertEqual(self.server.query(probe, max_threads="1",
                                           date_time_input_format="best_effort"),
                         "false\tbest_effort\t1\n")
        self.assertEqual(self.server.query(probe).split("\t")[:2], ["false", "basic"])
        self.assert_error(self.server.request(b"SELECT 1", no_such_setting="1"), 404, 115)

    def test_basic_date_time_input_format_rejects_iso_t(self):
        self.create_table("dt", columns="d DateTime64(3, 'UTC')")
        body = b'{"d": "2024-05-29T16:26:40.123Z"}\n'
        query = "INSERT INTO dt FORMAT JSONEachRow"
        self.assert_error(self.server.request(body, query=query), 400, 27)
        status, _, _ = self.server.request(body, query=query, date_time_input_format="best_effort")
        self.assertEqual(status, 200)

    def test_database_parameter(self):
        self.server.query("CREATE DATABASE IF NOT EXISTS other")
        self.server.query("CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory",
                          database="other")
        self.server.query("INSERT INTO t VALUES (7)", database="other")
        self.assertEqual(self.server.query("SELECT x FROM t", database="other"), "7\n")
        self.assertEqual(self.server.query("SELECT currentDatabase()"), "default\n")
        self.assert_error(self.server.request(b"SELECT 1", database="missing"), 404, 81)

    def test_query_parameters(self):
        self.assertEqual(self.server.query("SELECT {n:UInt64} + 1", param_n="41"), "42\n")

    def test_syntax_error_is_400(self):
        self.assert_error(self.server.request(b"SELEC 1"), 400, 62)
        self.assert_error(self.server.request(b""), 400, 62)

    def test_unknown_table_is_404(self):
        self.assert_error(self.server.request(b"SELECT * FROM no_such_table"), 404, 60)
        self.assert_error(self.insert("no_such_table", [{"a": 1}]), 404, 60)

    def test_get_is_readonly(self):
        self.create_table("ro")
        self.assert_error(self.server.request(method="GET", query="INSERT INTO ro VALUES (1, 'x')"),
                          500, 164)
        self.assertEqual(self.server.request(method="GET", query="SELECT 1")[2], b"1\n")

    def test_bad_row_fails_insert_and_keeps_connection(self):
        self.create_table("bad", columns="a UInt64, d DateTime64(3, 'UTC')")
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        good = b'{"a": 1, "d": "2024-05-29 16:26:40.123"}\n' * 50_000
        body = good + b'{"a": 2, "d": "garbage"}\n' + good
        # CANNOT_PARSE_INPUT_ASSERTION_FAILED at row 50001; no row of the insert is stored.
        self.assert_error(self.server.request(body, connection=conn,
                                              query="INSERT INTO bad FORMAT JSONEachRow"), 400, 27)
        status, _, data = self.server.request(b"SELECT count() FROM bad", connection=conn)
        self.assertEqual((status, data), (200, b"0\n"))
        conn.close()

    def test_uint64_exact(self):
        self.create_table("ids", columns="id UInt64")
        body = b'{"id": 18446744073709551615}\n{"id": 9007199254740993}\n'
        status, _, _ = self.server.request(body, query="INSERT INTO ids FORMAT JSONEachRow")
        self.assertEqual(status, 200)
        self.assertEqual(self.server.query("SELECT id FROM ids ORDER BY id"),
                         "9007199254740993\n18446744073709551615\n")

    def test_datetime64_from_string_exact(self):
        self.create_table("ts", columns="t DateTime64(3, 'UTC')")
        status, _, _ = self.server.request(b'{"t": "2024-05-29 16:26:40.123"}\n',
                                           query="INSERT INTO ts FORMAT JSONEachRow")
        self.assertEqual(status, 200)
        self.assertEqual(self.server.query("SELECT t, toUnixTimestamp64Milli(t) FROM ts"),
                         "2024-05-29 16:26:40.123\t1717000000123\n")

    def test_concurrent_inserts_and_selects(self):
        self.create_table("busy")
        body = b"".join(b'{"a": %d, "s": "c"}\n' % i for i in range(2000))
        errors = []

        def insert(n):
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
            for _ in range(n):
                status, _, data = self.server.request(body, connection=conn,
                                                      query="INSERT INTO busy FORMAT JSONEachRow")
                if status != 200:
                    errors.append(data)
                status, _, data = self.server.request(b"SELECT count() FROM busy", connection=conn)
                if status != 200:
                    errors.append(data)
            conn.close()

        threads = [threading.Thread(target=insert, args=(10,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.server.query("SELECT count() FROM busy"), "80000\n")


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--user", "ingest", "--password", "s3cret")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_right_credentials_by_each_method(self):
        basic = "Basic " + base64.b64encode(b"ingest:s3cret").decode()
        for headers, params in (
            ({"X-ClickHouse-User": "ingest", "X-ClickHouse-Key": "s3cret"}, {}),
            ({"Authorization": basic}, {}),
            ({}, {"user": "ingest", "password": "s3cret"}),
        ):
            status, _, data = self.server.request(b"SELECT 1", headers=headers, **params)
            self.assertEqual((status, data), (200, b"1\n"))

    def test_wrong_or_missing_credentials_are_403(self):
        for headers, params in (
            ({}, {}),
            ({"X-ClickHouse-User": "ingest", "X-ClickHouse-Key": "wrong"}, {}),
            ({"Authorization": "Basic " + base64.b64encode(b"ingest:wrong").decode()}, {}),
            ({}, {"user": "other", "password": "s3cret"}),
        ):
            status, response_headers, data = self.server.request(b"SELECT 1", headers=headers,
                                                                 **params)
            self.assertEqual(status, 403)
            self.assertEqual(response_headers["X-ClickHouse-Exception-Code"], "516")
            self.assertRegex(data.decode(),
                             r"^Code: 516\. DB::Exception: \w+: Authentication failed: password "
                             r"is incorrect, or there is no user with such name\. "
                             r"\(AUTHENTICATION_FAILED\)\n$")


class PersistenceTest(unittest.TestCase):
    def test_data_survives_restart(self):
        server = Server()
        try:
            server.query("CREATE TABLE kept (a UInt64) ENGINE = MergeTree ORDER BY a")
            server.query("INSERT INTO kept VALUES (1), (2), (3)")
            self.assertEqual(server.stop(), 0)
            server.start()
            self.assertEqual(server.query("SELECT sum(a) FROM kept"), "6\n")
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
