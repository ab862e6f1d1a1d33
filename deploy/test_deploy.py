"""Checks of the container files that can run without a Docker engine (`make test-deploy`).

- the Dockerfile passes hadolint (settings in deploy/hadolint.yaml);
- the Docker build context holds every file cargo needs (a copy of what the build stage COPYs
  must pass `cargo fetch --locked`, which reads every target Cargo.toml names);
- the runtime stage runs as a numeric non-root user with the self health check;
- docker-compose.yml: ingester on 5000 and ClickHouse on 8123/9000, health checks, the ingester
  waits for a healthy ClickHouse, applies the schema, gets the optional .env file but keeps its
  compose settings (ClickHouse, HTTP_ADDR), keeps its working directory (the spool) in a volume,
  and is given more time to stop than its final flush may take.

hadolint and PyYAML come from deploy/requirements-test.txt (`make venv-deploy`); a test whose tool
is missing is skipped with a message saying how to install it.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "run `make venv-deploy` (pip install -r deploy/requirements-test.txt)"

try:
    import yaml
except ImportError:
    yaml = None


def dockerfile_stages():
    """The Dockerfile's stages as lists of (instruction, arguments), line continuations joined."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        stages[-1].append((instruction, args.strip()))
    return stages


def default_of(var):
    """The default of a variable in src/config.rs's VARS table."""
    config = (ROOT / "src" / "config.rs").read_text()
    match = re.search(r'name: "%s", default: "([^"]*)"' % re.escape(var), config)
    if match is None:
        raise AssertionError(f"{var} not found in src/config.rs VARS")
    return match.group(1)


def seconds(duration):
    """A compose duration such as `15s` or `1m30s` in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise AssertionError(f"not a compose duration: {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)


class DockerfileTest(unittest.TestCase):
    def test_hadolint_passes(self):
        hadolint = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which(
            "hadolint"
        )
        if hadolint is None:
            self.skipTest(f"SKIPPED: hadolint is not installed; {INSTALL_HINT}")
        run = subprocess.run(
            [hadolint, "--no-color", "--config", "deploy/hadolint.yaml", "Dockerfile"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(run.returncode, 0, f"hadolint:\n{run.stdout}{run.stderr}")

    def test_build_context_holds_what_cargo_needs(self):
        build = dockerfile_stages()[0]
        ignored = [
            p.strip()
            for p in (ROOT / ".dockerignore").read_text().splitlines()
            if p.strip() and not p.startswith("#")
        ]
        sources = []
        for instruction, args in build:
            if instruction == "COPY" and not args.startswith("--from"):
                sources.extend(args.split()[:-1])
        self.assertIn("Cargo.lock", sources, "the build must be --locked to Cargo.lock")
        with tempfile.TemporaryDirectory() as context:
            for source in sources:
                self.assertFalse(
                    any(fnmatch(source, pattern) for pattern in ignored),
                    f"COPY {source} is excluded by .dockerignore",
                )
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(src, Path(context) / source)
                else:
                    shutil.copy2(src, Path(context) / source)
            run = subprocess.run(
                ["cargo", "fetch", "--locked"],
                cwd=context,
                capture_output=True,
                text=True,
                timeout=300,
            )
        self.assertEqual(
            run.returncode, 0, f"cargo cannot read the Docker build context:\n{run.stderr}"
        )

    def test_runtime_stage_is_small_non_root_and_self_checking(self):
        runtime = dict(dockerfile_stages()[-1])
        self.assertTrue(runtime["FROM"].startswith("debian:") and "slim" in runtime["FROM"])
        self.assertIn("ca-certificates", runtime["RUN"])
        user = runtime["USER"].split(":")[0]
        self.assertTrue(user.isdigit() and int(user) != 0, f"USER {runtime['USER']}")
        self.assertIn('CMD ["chakal-ingest", "healthcheck"]', runtime["HEALTHCHECK"])
        self.assertEqual(runtime["EXPOSE"], "5000")
        self.assertIn("0.0.0.0:5000", runtime["ENV"])


class ComposeTest(unittest.TestCase):
    def setUp(self):
        if yaml is None:
            self.skipTest(f"SKIPPED: PyYAML is not installed; {INSTALL_HINT}")
        self.compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        self.services = self.compose["services"]

    def container_ports(self, service):
        return {str(p).rsplit(":", 1)[-1] for p in self.services[service]["ports"]}

    def test_services_ports_and_health_checks(self):
        self.assertEqual(set(self.services), {"clickhouse", "ingest"})
        clickhouse, ingest = self.services["clickhouse"], self.services["ingest"]
        self.assertTrue(clickhouse["image"].startswith("clickhouse/clickhouse-server:"))
        self.assertEqual(self.container_ports("clickhouse"), {"8123", "9000"})
        self.assertEqual(self.container_ports("ingest"), {"5000"})
        self.assertEqual(ingest["build"], ".")
        for name, service in self.services.items():
            test = service["healthcheck"]["test"]
            self.assertEqual(test[0], "CMD", f"{name} health check")
        self.assertEqual(ingest["healthcheck"]["test"][1:], ["chakal-ingest", "healthcheck"])
        self.assertEqual(
            ingest["depends_on"]["clickhouse"]["condition"], "service_healthy"
        )

    def test_ingester_writes_to_the_compose_clickhouse_and_applies_the_schema(self):
        env = self.services["ingest"]["environment"]
        database = self.services["clickhouse"]["environment"]["CLICKHOUSE_DB"]
        self.assertRegex(env["CLICKHOUSE_CONN"], rf"^http://[^@]+@clickhouse:8123/{database}$")
        self.assertEqual(env["CLICKHOUSE_INIT_SCHEMA"], "true")

    def test_ingester_gets_the_env_file_but_keeps_its_compose_settings(self):
        ingest = self.services["ingest"]
        # README and env.sample say "copy to .env": every variable of it reaches the ingester
        # (SIGN_API_KEY, RECORD_DIR…), and compose still starts without one.
        self.assertIn({"path": ".env", "required": False}, ingest["env_file"])
        env = ingest["environment"]
        self.assertRegex(env["CLICKHOUSE_CONN"], r"@clickhouse:8123/")
        host, _, port = env["HTTP_ADDR"].rpartition(":")
        self.assertEqual(host, "0.0.0.0", "the published port must reach the health server")
        self.assertEqual(self.container_ports("ingest"), {port})

    def test_volumes_keep_the_data_and_the_spool(self):
        declared = set(self.compose["volumes"])
        workdir = dict(dockerfile_stages()[-1])["WORKDIR"]
        mounts = {
            name: dict(v.split(":", 1) for v in s.get("volumes", []))
            for name, s in self.services.items()
        }
        self.assertEqual(set(mounts["ingest"].values()), {workdir}, "spool in the working dir")
        self.assertIn("/var/lib/clickhouse", mounts["clickhouse"].values())
        used = {volume for m in mounts.values() for volume in m}
        self.assertEqual(used, declared)

    def test_stop_grace_period_covers_the_final_flush(self):
        flush = int(default_of("SHUTDOWN_TIMEOUT_MS")) / 1000
        grace = seconds(self.services["ingest"]["stop_grace_period"])
        self.assertGreater(grace, flush + 1, "the final flush must finish before SIGKILL")


if __name__ == "__main__":
    unittest.main()
