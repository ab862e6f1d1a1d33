"""chfront: the project's ClickHouse HTTP front over the chDB engine.

It owns the local ClickHouse that `make run` and every integration test talk to: a small HTTP
server answering the subset of clickhouse-server's HTTP interface (port 8123 protocol) that the
ingester and its tests use, while every query, DDL statement and insert body is executed by the
real ClickHouse engine embedded in chDB. The front adds only what the embedded engine lacks:
the HTTP listener, authentication, URL settings, request decompression and the server's
error-to-status mapping. See README.md beside this file for the subset and known differences.

    python chfront.py --port 0 --path DIR [--host 127.0.0.1] [--user U --password P]

prints one line `chfront ready on http://HOST:PORT` when it listens; SIGTERM or SIGINT stops it
(in-flight requests finish first) with exit status 0.
"""

import argparse
import base64
import binascii
import gzip
import hmac
import json
import os
import re
import signal
import sys
import threading
import uuid
import zlib
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import chdb

# Settings whose chDB default differs from clickhouse-server's; pinned on every connection before
# the request's own settings so that what passes here also passes against a real server.
SERVER_DEFAULTS = {"async_insert": "0", "date_time_input_format": "basic", "implicit_select": "0"}

# URL parameters clickhouse-server reads itself and does not apply as settings (HTTPHandler.cpp).
RESERVED_PARAMS = frozenset({
    "query", "database", "default_format", "user", "password", "quota_key", "query_id",
    "compress", "decompress", "stacktrace", "buffer_size", "wait_end_of_query", "session_id",
    "session_timeout", "session_check", "client_protocol_version", "close_session", "role",
})
QUERY_PARAMETER_PREFIX = "param_"

# clickhouse-server's exceptionCodeToHTTPStatus; every other code is 500.
STATUS_BY_CODE = {
    194: 401,  # REQUIRED_PASSWORD
    **dict.fromkeys((
        192, 193, 516,  # UNKNOWN_USER, WRONG_PASSWORD, AUTHENTICATION_FAILED
        512, 497,  # SET_NON_GRANTED_ROLE, ACCESS_DENIED
    ), 403),
    **dict.fromkeys((
        36, 427, 6, 25, 26, 38, 41, 72, 441, 675, 676, 27, 376,
        # BAD_ARGUMENTS, CANNOT_COMPILE_REGEXP, CANNOT_PARSE_{TEXT, ESCAPE_SEQUENCE,
        # QUOTED_STRING, DATE, DATETIME, NUMBER, DOMAIN_VALUE_FROM_STRING, IPV4, IPV6,
        # INPUT_ASSERTION_FAILED, UUID}
        15, 44, 37, 123, 8, 167, 168, 223, 62, 117, 53, 321,
        # DUPLICATE_COLUMN, ILLEGAL_COLUMN, UNKNOWN_ELEMENT_IN_AST, UNKNOWN_TYPE_OF_AST_NODE,
        # THERE_IS_NO_COLUMN, TOO_DEEP_AST, TOO_BIG_AST, UNEXPECTED_AST_STRUCTURE, SYNTAX_ERROR,
        # INCORRECT_DATA, TYPE_MISMATCH, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    ), 400),
    **dict.fromkeys((
        60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511,
        # UNKNOWN_{TABLE, FUNCTION, IDENTIFIER, TYPE, STORAGE, DATABASE, SETTING,
        # DIRECTION_OF_SORTING, AGGREGATE_FUNCTION, FORMAT, DATABASE_ENGINE, TYPE_OF_QUERY, ROLE}
    ), 404),
    229: 413,  # QUERY_IS_TOO_LARGE
    48: 501,  # NOT_IMPLEMENTED
    209: 503, 76: 503, 439: 503,  # SOCKET_TIMEOUT, CANNOT_OPEN_FILE, CANNOT_SCHEDULE_TASK
    381: 411,  # HTTP_LENGTH_REQUIRED
    159: 408,  # TIMEOUT_EXCEEDED
    779: 415,  # UNSUPPORTED_MEDIA_TYPE
}

ENGINE_ERROR = re.compile(r"Code: (\d+)\. DB::Exception: ")
# `INSERT INTO ... FORMAT Name` standing alone in the `query` parameter: its data is the request
# body, which can then be streamed into the engine. Statements with comments or several
# statements are left to the engine's own parser (the general path).
INSERT_WITH_FORMAT = re.compile(
    r"\s*(?P<statement>INSERT\s+INTO\s[^;#]*?)\s+FORMAT\s+(?P<format>[A-Za-z_]\w*)"
    r"(?P<tail>[ \t\f]*\r?\n?)\Z",
    re.IGNORECASE | re.DOTALL,
)
SETTING_NAME = re.compile(r"[A-Za-z_]\w*\Z")
READ_CHUNK = 1 << 20
RESPONSE_COMPRESSION_LEVEL = 3  # clickhouse-server's default http_zlib_compression_level


class ClickHouseError(Exception):
    """An error reported to the client the way clickhouse-server reports it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def raised(cls, code, name, text):
        return cls(code, f"Code: {code}. DB::Exception: {text}. ({name})")

    @classmethod
    def from_engine(cls, exc):
        text = str(exc)
        match = ENGINE_ERROR.search(text)
        if match is None:
            return cls.raised(1001, "STD_EXCEPTION", text)
        message = text[match.start():]
        # Inserts parsed from the query text come back as "Code: N. DB::Exception: Code: N. ..."
        doubled = match.group(0) * 2
        if message.startswith(doubled):
            message = message[len(match.group(0)):]
        return cls(int(match.group(1)), message)


class Engine:
    """The process's one chDB embedded server; each request runs on a connection of its own.

    chDB allows one data path per process but any number of connections to it; connections are
    cheap (~0.1 ms) while the embedded server is up, and their settings are private, so a fresh
    connection per request keeps one request's settings out of the next and lets requests run
    in parallel (the engine releases the GIL). The anchor connection keeps the embedded server
    up between requests, since closing its last connection shuts it down.
    """

    def __init__(self, path):
        os.makedirs(path, exist_ok=True)
        self._path = os.path.abspath(path)
        self._anchor = chdb.connect(self._path)
        self._active = 0
        self._idle = threading.Condition()

    @contextmanager
    def connection(self, settings, database, readonly):
        """A connection with the server defaults, then `settings`, applied and `database` in use."""
        pinned = dict(SERVER_DEFAULTS, **({"readonly": "2"} if readonly else {}))
        options = "&".join(f"{name}={value}" for name, value in pinned.items())
        with self._idle:
            self._active += 1
        try:
            conn = chdb.connect(f"{self._path}?{options}")
            try:
                if settings:
                    conn.query("SET " + ", ".join(
                        f"{name} = {quote_string(value)}" for name, value in settings.items()))
                if database:
                    conn.query(f"USE {quote_identifier(database)}")
                yield conn
            finally:
                conn.close()
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def close(self, grace_seconds):
        """Wait up to `grace_seconds` for running requests, then shut the embedded server down."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=grace_seconds)
        self._anchor.close()


def quote_string(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def summary_header(read_rows, read_bytes, written_rows, written_bytes, elapsed_seconds):
    return json.dumps({
        "read_rows": str(read_rows), "read_bytes": str(read_bytes),
        "written_rows": str(written_rows), "written_bytes": str(written_bytes),
        "elapsed_ns": str(int(elapsed_seconds * 1e9)),
    }, separators=(",", ":"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chfront"

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def log_request(self, code="-", size="-"):
        """Successful requests are not logged; failures are, in `_send_error`."""

    def _serve(self):
        self._raw_body = self._read_raw_body()
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        is_root_get = url.path == "/" and self.command == "GET" and "query" not in params
        if url.path == "/ping" or is_root_get:
            self._drain()
            self._send(200, b"Ok.\n", {})
            return
        try:
            self._authenticate(params)
            self._run(params)
        except ClickHouseError as error:
            self._drain()
            self._send_error(error)
        except Exception as exc:  # an engine failure surfacing as a plain Python exception
            self._drain()
            self._send_error(ClickHouseError.from_engine(exc))

    def _authenticate(self, params):
        """Check the credentials, found as clickhouse-server looks for them: X-ClickHouse-User
        and X-ClickHouse-Key headers, else HTTP Basic, else user/password URL parameters."""
        expected = self.server.credentials
        if expected is None:
            return
        user = self.headers.get("X-ClickHouse-User", "")
        password = self.headers.get("X-ClickHouse-Key", "")
        authorization = self.headers.get("Authorization", "")
        if not (user or password) and authorization[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
        elif not (user or password):
            user, password = params.get("user", "default"), params.get("password", "")
        user = user or "default"
        if not (hmac.compare_digest(user.encode(), expected[0].encode())
                and hmac.compare_digest(password.encode(), expected[1].encode())):
            raise ClickHouseError.raised(
                516, "AUTHENTICATION_FAILED",
                f"{user}: Authentication failed: password is incorrect, "
                "or there is no user with such name")

    def _run(self, params):
        query = params.get("query", "")
        database = params.get("database") or self.headers.get("X-ClickHouse-Database", "")
        output_format = (params.get("default_format") or self.headers.get("X-ClickHouse-Format")
                         or "TabSeparated")
        settings, query_parameters = {}, {}
        for name, value in params.items():
            if name.startswith(QUERY_PARAMETER_PREFIX):
                query_parameters[name[len(QUERY_PARAMETER_PREFIX):]] = value
            elif name and name not in RESERVED_PARAMS:
                if not SETTING_NAME.match(name):
                    raise ClickHouseError.raised(115, "UNKNOWN_SETTING",
                                                 f"Unknown setting '{name}'")
                settings[name] = value

        insert = INSERT_WITH_FORMAT.match(query) if self.command == "POST" else None
        readonly = self.command == "GET"
        with self.server.engine.connection(settings, database, readonly) as conn:
            if insert and not query_parameters:
                body, summary = self._stream_insert(conn, insert)
            else:
                body, summary = self._execute(conn, query, output_format, query_parameters)
        headers = {"X-ClickHouse-Summary": summary,
                   "X-ClickHouse-Query-Id": params.get("query_id") or str(uuid.uuid4())}
        if body and params.get("enable_http_compression", "1").lower() not in ("0", "false"):
            body = self._compress_for_client(body, headers)
        self._send(200, body, headers)

    def _stream_insert(self, conn, insert):
        """Feed the body to the engine as it arrives: the data of `INSERT ... FORMAT X`."""
        with conn.send_insert(insert.group("statement"), insert.group("format")) as inserter:
            # The data starts after the first newline following the format name
            # (ParserInsertQuery); the query parameter and the body are joined by a newline.
            if insert.group("tail").endswith("\n"):
                inserter.append(b"\n")
            for chunk in self._body():
                inserter.append(chunk)
            result = inserter.finish()
        return b"", summary_header(0, 0, result.rows_written, result.bytes_written, result.elapsed)

    def _execute(self, conn, query, output_format, query_parameters):
        """Run `query`, newline, request body as one statement, as clickhouse-server does."""
        body = b"".join(self._body())
        text = query.encode() + b"\n" + body if query else body
        if not text.strip():
            raise ClickHouseError.raised(62, "SYNTAX_ERROR", "Empty query")
        result = conn.query(text, output_format, params=query_parameters)
        return result.bytes(), summary_header(result.rows_read(), result.bytes_read(),
                                              result.rows_written(), result.bytes_written(),
                                              result.elapsed())

    def _compress_for_client(self, body, headers):
        accepted = self.headers.get("Accept-Encoding", "").lower()
        if "gzip" in accepted:
            headers["Content-Encoding"] = "gzip"
            return gzip.compress(body, RESPONSE_COMPRESSION_LEVEL)
        if "deflate" in accepted:
            headers["Content-Encoding"] = "deflate"
            return zlib.compress(body, RESPONSE_COMPRESSION_LEVEL)
        return body

    def _read_raw_body(self):
        """Yield the request body as it arrives, by Content-Length or chunked transfer coding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0], 16)
                except ValueError:
                    self.close_connection = True
                    raise ClickHouseError.raised(
                        33, "CANNOT_READ_ALL_DATA", f"Malformed chunk size line {line[:40]!r}")
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailer fields
                        pass
                    return
                yield from self._read_exactly(size)
                self.rfile.readline(16)  # CRLF after the chunk
        else:
            if self.command == "POST" and "Content-Length" not in self.headers:
                self.close_connection = True
                raise ClickHouseError.raised(
                    381, "HTTP_LENGTH_REQUIRED",
                    "The Transfer-Encoding is not chunked and there is no Content-Length "
                    "header for POST request")
            yield from self._read_exactly(int(self.headers.get("Content-Length") or 0))

    def _read_exactly(self, size):
        while size > 0:
            chunk = self.rfile.read(min(size, READ_CHUNK))
            if not chunk:
                self.close_connection = True
                raise ClickHouseError.raised(33, "CANNOT_READ_ALL_DATA",
                                             "Request body ended early")
            size -= len(chunk)
            yield chunk

    def _body(self):
        """Yield the request body decoded from its Content-Encoding (gzip, deflate)."""
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("", "identity"):
            # Not `yield from`: abandoning this generator must not close the raw body, which
            # `_drain` still reads to the end when the engine rejects the data midway.
            for chunk in self._raw_body:
                yield chunk
            return
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise ClickHouseError.raised(
                48, "NOT_IMPLEMENTED", f"chfront cannot decode Content-Encoding '{encoding}'")
        wbits = 31 if encoding != "deflate" else 15
        decoder, fed = zlib.decompressobj(wbits), False
        try:
            for chunk in self._raw_body:
                while chunk:
                    fed = True
                    data = decoder.decompress(chunk)
                    if data:
                        yield data
                    chunk = b""
                    if decoder.eof:  # a gzip body may be several concatenated members
                        chunk, decoder, fed = decoder.unused_data, zlib.decompressobj(wbits), False
        except zlib.error as exc:
            raise ClickHouseError.raised(354, "ZLIB_INFLATE_FAILED", f"inflate failed: {exc}")
        if fed:
            raise ClickHouseError.raised(354, "ZLIB_INFLATE_FAILED",
                                         "inflate failed: the compressed body is truncated")

    def _drain(self):
        """Consume what is left of the request body so the connection can serve the next one."""
        try:
            for _ in self._raw_body:
                pass
        except (ClickHouseError, OSError, ValueError):
            self.close_connection = True

    def _send_error(self, error):
        status = STATUS_BY_CODE.get(error.code, 500)
        self.log_message("%d %s", status, error.message.splitlines()[0][:500])
        self._send(status, (error.message + "\n").encode(),
                   {"X-ClickHouse-Exception-Code": str(error.code)})

    def _send(self, status, body, headers):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Front(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, engine, credentials):
        super().__init__(address, Handler)
        self.engine = engine
        self.credentials = credentials


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    parser.add_argument("--path", required=True, help="data directory, kept across restarts")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", help="require this user (and --password); default: accept any")
    parser.add_argument("--password", default="")
    args = parser.parse_args(argv)

    engine = Engine(args.path)
    credentials = (args.user, args.password) if args.user is not None else None
    server = Front((args.host, args.port), engine, credentials)

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print(f"chfront ready on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        engine.close(grace_seconds=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
