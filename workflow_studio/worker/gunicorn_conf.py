"""gunicorn settings for the worker, as Python (``gunicorn -c python:<this module>``).

Settings are read in the master from the same sources as the app (file, env, options); no
database connection is opened here. Each worker process connects (and migrates) in
``post_worker_init``, after the fork.

The worker's secrets leave the master's environment before it forks (``on_starting``); each
worker process gets them back to read its settings (``post_fork``) and, before any user
code runs, keeps only what user code may see (``post_worker_init``; README, "Security
model", and ``config/environment.py``).

A stuck worker process is replaced after ``worker.stuck_timeout`` s: gunicorn's worker
``timeout`` is that setting (a process whose main loop stops heartbeating: stopped, or
starved by a step holding the GIL), and on SQLite each process runs a ``watchdog`` that
replaces a sibling holding the writer lock that long. Booting and stopping may take longer
(migrations, running steps finishing): a helper thread keeps the heartbeat going meanwhile.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import ipaddress
import math
import os
import sys
import threading

from workflow_studio.config import environment
from workflow_studio.config.settings import ConfigError, load_settings
from workflow_studio.engine.executor import node_id
from workflow_studio.worker import execution as _engine  # imported before the fork
from workflow_studio.worker import watchdog
from workflow_studio.worker.server import READY_MARKER

try:
    _settings = load_settings()
except ConfigError as _exc:
    sys.exit(f"workflow-studio: {_exc}")
# The worker secrets this master took out of its environment (on_starting); each worker
# process gets them back for the settings it reads while it loads the app (post_fork), and
# drops them again, with everything else user code must not see (post_worker_init).
_hidden: dict[str, str] = {}

wsgi_app = "workflow_studio.worker.wsgi:app"
# Drawn once in the master, inherited by every worker process it forks: claims are owned by
# (node, pid), so child_exit releases exactly its own dead process's claims.
_node = node_id()
bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.workers or 1
# gthread, answering what gunicorn refuses before the app (below) with the JSON envelope.
worker_class = "workflow_studio.worker.gunicorn_worker.JsonErrorWorker"
threads = _settings.threads or 1
timeout = max(1, math.ceil(_settings.stuck_timeout))  # see the module docstring
graceful_timeout = 30
keepalive = 5
# What gunicorn reads before the app: every header the API documents fits with room to spare
# (Authorization with a long seed key, a 255-byte Idempotency-Key, a 128-byte correlation
# id), and so does a request line to a 500-character hook token even percent-encoded. More
# is answered 414 uri_too_long / 431 headers_too_large (gunicorn_worker); bodies have the
# app's limits (worker.limits).
limit_request_line = 4094          # bytes of "METHOD /path?query HTTP/1.1"
limit_request_fields = 100         # header fields
limit_request_field_size = 8190    # bytes of one header field, name and value
max_requests = 0  # the executor keeps leases; recycling is opt-in via GUNICORN_CMD_ARGS
control_socket_disable = True  # gunicorn 27+: one fixed socket path would collide across masters
# gunicorn parses these strictly: hand it normalised networks (10.0.0.5/24 -> 10.0.0.0/24).
forwarded_allow_ips = ",".join(
    str(ipaddress.ip_network(p, strict=False)) for p in _settings.trusted_proxies
) or "127.0.0.1,::1"
proxy_allow_ips = forwarded_allow_ips
accesslog = "-"
access_log_format = (
    '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s '
    'correlation_id=%({x-workflow-correlation-id}o)s'
)
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "workflow_studio.worker.correlation.CorrelationFilter"},
                # Hook URL tokens are bearer secrets: never whole in a log line.
                "redact": {"()": "workflow_studio.worker.redaction.RedactHookTokens"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(process)d] %(name)s "
                            "correlation_id=%(correlation_id)s run_id=%(run_id)s %(message)s"},
        "access": {"format": "%(asctime)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain",
                    "filters": ["correlation", "redact"], "stream": "ext://sys.stderr"},
        "access": {"class": "logging.StreamHandler", "formatter": "access",
                   "filters": ["redact"], "stream": "ext://sys.stdout"},
    },
    "root": {"level": _settings.log_level, "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
}


def on_starting(server):
    """In the master, before the first fork (and after a ``--preload`` app read its settings):
    the secrets leave os.environ and the block /proc/<pid>/environ shows."""
    _hidden.update(environment.hide_secrets())


def post_fork(server, worker):
    """In the new worker process, before it loads the app: the settings it reads are the
    master's (a reload or a respawn must not lose the seed key: that would revoke it)."""
    os.environ.update(_hidden)


def post_worker_init(worker):
    """Connect, migrate and seed keys in the new process; fail the boot loudly if we can't.

    On PostgreSQL a server that is merely down (a restart, a failover) does not stop the
    boot: a worker respawned during an outage serves 503 ``database_unavailable`` and its
    executor backs off until the database answers, instead of halting the whole node."""
    from workflow_studio.storage import DatabaseUnavailable

    state = worker.wsgi.extensions["workflow_studio"]
    # The app exists (its settings are read): before any user code runs in this process,
    # the environment keeps only what user code may see (README, "Security model").
    removed = environment.restrict_to(state.settings.env_passthrough)
    worker.log.debug("workflow-studio: removed from the environment of user code: %s",
                     ", ".join(sorted(removed)) or "nothing")
    db = state.db
    db.start_background_checkpoints()  # SQLite: WAL checkpoints off the commit path
    # Stacks on demand, printed without the GIL: the watchdog asks before it kills.
    faulthandler.register(watchdog.STACK_SIGNAL, all_threads=True, chain=False)
    with _heartbeat(worker):  # migrations may take longer than the worker timeout
        try:
            db.connection()
        except DatabaseUnavailable as exc:
            if db.dialect != "postgres":
                worker.log.error("workflow-studio: database not usable: %s", exc)
                sys.exit(3)
            worker.log.warning("workflow-studio: database unavailable at boot (will retry): "
                               "%s", exc)
        except Exception as exc:
            worker.log.error("workflow-studio: database not usable: %s", exc)
            sys.exit(3)  # gunicorn's WORKER_BOOT_ERROR: the master stops, not respawning
    writers = db.sqlite_writers()
    if writers is not None:
        watchdog.Watchdog(writers, state.settings.stuck_timeout).start()
    _start_engine(worker)
    # What boot made (Flask, the app, ~40k objects) lives as long as the process: out of
    # the collector's way, a full collection takes microseconds, not the ~10 ms pause that
    # landed inside a run's steps every so often.
    gc.freeze()
    # Whatever the log level: start_compute_worker_server counts these to know every
    # process serves (one answering health check proves only one of them).
    sys.stderr.write(f"{READY_MARKER} (pid {os.getpid()}, node {_node})\n")
    sys.stderr.flush()


def _start_engine(worker):
    """Start this process's executor; SIGTERM/SIGQUIT/SIGINT first make it stop claiming."""
    import signal

    executor = _engine.start_for_app(worker.wsgi, _node)
    for signum in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
        previous = signal.getsignal(signum)

        def stop_claiming(sig, frame, previous=previous):
            executor.stopping = True
            if callable(previous):
                previous(sig, frame)
        signal.signal(signum, stop_claiming)


@contextlib.contextmanager
def _heartbeat(worker):
    """Tell the master this process lives, from a thread, while the main one is busy."""
    done = threading.Event()

    def beat():
        while not done.wait(1.0):
            worker.notify()
    thread = threading.Thread(target=beat, name="gunicorn-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def worker_exit(server, worker):
    """Let running steps finish (within the graceful timeout), then release leases."""
    with _heartbeat(worker):
        _engine.stop_for_app(worker.wsgi, max(1.0, graceful_timeout - 5))


def child_exit(server, worker):
    """A worker process died (or exited): release its claims now, not at lease expiry."""
    try:
        _engine.release_dead_worker(_settings, _node, worker.pid, {**_hidden, **os.environ})
    except Exception as exc:  # the lease expiry still covers it
        server.log.error("workflow-studio: could not release claims of %s: %s",
                         worker.pid, exc)


def worker_int(worker):
    """On SIGINT/SIGQUIT, dump every thread's stack: what was it doing?"""
    faulthandler.dump_traceback(all_threads=True)


def worker_abort(worker):
    """gunicorn's worker timeout fired (SIGABRT): say what every thread was doing."""
    faulthandler.dump_traceback(all_threads=True)
