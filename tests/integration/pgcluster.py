#!/usr/bin/env python3
"""Throwaway PostgreSQL clusters for jqd's tests (standard library only).

    cluster = Cluster(dir)          # dir: empty or absent, ours to fill
    cluster.start()                 # initdb on first start, then postgres
    cluster.conninfo()              # host=<dir> port=N user=jqtest dbname=jqtest
    cluster.sql("select 1")         # [("1",)]
    standby = cluster.standby(dir2) # synchronous streaming replica
    cluster.kill(); standby.promote()
    cluster.stop()

A cluster lives in its directory: the data in dir/data, the Unix socket
in dir itself, postgres's log in dir/postgres.log.  It listens on that
socket and on 127.0.0.1:<a free port> only (TCP is there for a proxy
between jqd and the database, which a socket cannot be).  The superuser
is the role jqtest, authentication is trust, and the database jqd uses
is jqtest.  fsync stays on unless asked (the durability tests need it).

PostgreSQL refuses to run as root, so as root the server runs as nobody
(the directory is handed to nobody, whose path to it must be searchable:
/tmp is).  Otherwise it runs as the current user.

The server binaries are looked for in /usr/lib/postgresql/*/bin (Debian,
highest version first), then `pg_config --bindir`, then PATH.  Without
them, bindir() raises NotInstalled with a reason, and callers skip (exit
77): the PostgreSQL part of `make check` is skipped only there.

Run as a command, for tests/pg.sh and by hand:

    pgcluster.py start DIR [--fsync off]   prints the conninfo, leaves the
                                           cluster running (exit 77 if
                                           PostgreSQL is not installed)
    pgcluster.py stop DIR                  fast shutdown
    pgcluster.py bindir                    where the binaries are (or 77)
"""

import argparse
import glob
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

USER = "jqtest"
DBNAME = "jqtest"

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
SQL_TIMEOUT_S = 120
REPLICATION_TIMEOUT_S = 60

# psql's unaligned output with separators no value of ours holds: fields
# by US, records by RS, NULL as SOH.  Result sets end with a newline.
_FS, _RS, _NULL = "\x1f", "\x1e", "\x01"


class NotInstalled(Exception):
    """The PostgreSQL server binaries are not on this machine."""


class PGError(Exception):
    """initdb, postgres, psql or pg_basebackup failed; says what and why."""


# -- finding PostgreSQL -------------------------------------------------------

def _has_server(d):
    return all(os.access(os.path.join(d, b), os.X_OK)
               for b in ("initdb", "postgres", "psql", "pg_basebackup"))


def _version_key(d):
    # /usr/lib/postgresql/15/bin -> (15,); "9.6" -> (9, 6)
    v = os.path.basename(os.path.dirname(d))
    return tuple(int(x) for x in re.findall(r"\d+", v))


_bindir = None


def bindir():
    """The directory of initdb, postgres, psql and pg_basebackup.
    Raises NotInstalled, whose text is the reason to skip."""
    global _bindir
    if _bindir:
        return _bindir
    tried = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key,
                   reverse=True)
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], check=True,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=30)
            tried.append(out.stdout.decode().strip())
        except (subprocess.SubprocessError, OSError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        tried.append(os.path.dirname(initdb))
    for d in tried:
        if d and _has_server(d):
            _bindir = d
            return d
    raise NotInstalled(
        "PostgreSQL not installed: no initdb, postgres, psql and "
        "pg_basebackup in /usr/lib/postgresql/*/bin, `pg_config --bindir` "
        "or PATH (Debian: apt-get install postgresql)")


def psql_path():
    """psql: the server's, else any on PATH (enough for JQTEST_PG pointing
    at a server elsewhere)."""
    try:
        return os.path.join(bindir(), "psql")
    except NotInstalled:
        p = shutil.which("psql")
        if p is None:
            raise
        return p


# -- connection strings and SQL ------------------------------------------------

def conninfo_value(v):
    """A libpq keyword value, quoted when it must be: single quotes, with
    backslash before a quote or a backslash (libpq's conninfo_parse)."""
    v = str(v)
    if v and not re.search(r"[\s'\\]", v):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def make_conninfo(**kw):
    return " ".join("%s=%s" % (k, conninfo_value(v)) for k, v in kw.items())


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def _clean_env():
    # Our own PG* variables (PGOPTIONS, PGSERVICE, PGHOST...) would change
    # what the explicit connection strings say; LD_PRELOAD is a test's
    # for jqd, never for PostgreSQL.
    return {k: v for k, v in os.environ.items()
            if not k.startswith("PG") and k != "LD_PRELOAD"}


def psql(conninfo, text, timeout=SQL_TIMEOUT_S):
    """Run text (one or more statements) with psql on conninfo; returns
    the rows of every result as tuples of strings, None for NULL.  Values
    must not hold a newline (it ends a result in psql's output)."""
    cmd = [psql_path(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
           "-F", _FS, "-R", _RS, "-P", "null=" + _NULL, "-d", conninfo,
           "-f", "-"]
    p = subprocess.run(cmd, input=text.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout,
                       env=_clean_env())
    if p.returncode != 0:
        raise PGError("psql %r failed (status %d): %s\n--- statements ---\n%s"
                      % (conninfo, p.returncode,
                         p.stderr.decode("utf-8", "replace").strip(), text))
    rows = []
    for rec in re.split("[%s\n]" % _RS, p.stdout.decode("utf-8")):
        if rec:
            rows.append(tuple(None if f == _NULL else f
                              for f in rec.split(_FS)))
    return rows


def create_schema(conninfo, name):
    """CREATE SCHEMA IF NOT EXISTS; two at once may race on the catalog's
    unique index, which means it exists."""
    try:
        psql(conninfo, "CREATE SCHEMA IF NOT EXISTS %s" % quote_ident(name))
    except PGError as e:
        if "duplicate key" not in str(e):
            raise


def drop_schema(conninfo, name, lock_timeout_ms=10000):
    """DROP SCHEMA ... CASCADE.  A jqd still connected holds locks on the
    tables: the drop then fails after lock_timeout_ms instead of waiting."""
    psql(conninfo, "SET lock_timeout = %d; DROP SCHEMA IF EXISTS %s CASCADE"
         % (lock_timeout_ms, quote_ident(name)))


def free_port():
    """A TCP port on 127.0.0.1 free now (postgres binds it a moment later;
    start() retries with another if one was taken meanwhile)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- processes ----------------------------------------------------------------

def _server_user():
    """Popen arguments that run a server program unprivileged: as root,
    nobody; otherwise as ourselves."""
    if os.geteuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        raise PGError("running as root and there is no user nobody to run "
                      "PostgreSQL as")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


try:
    import ctypes

    # Resolved here, not in the child: there, after the switch to nobody,
    # the import failed unseen (a postmaster outlived its test).
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except Exception:  # not Linux, or no ctypes: nothing ties the server to us
    _prctl = None


def _tie_to_parent():
    # The postmaster dies (SIGKILL) with the test that started it, so a
    # killed run leaves no cluster behind; its backends follow once they
    # see the postmaster gone.  Popen calls this after the switch to
    # nobody, which would clear a setting made before.  PR_SET_PDEATHSIG
    # is 1.
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)


def _pid_alive(pid):
    # A zombie is gone: a killed postmaster's children go to PID 1, which
    # in a container may never reap them.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _processes_in(directory):
    """Pids of the processes whose working directory is directory: every
    postgres process chdirs to its data directory, and the postmaster's
    children start their own sessions, so this finds them all, even once
    a killed postmaster's children have been given to init."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/cwd" % d) == directory:
                pids.append(int(d))
        except OSError:
            pass
    return pids


def _wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    interval = 0.01
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise PGError("timed out after %s s waiting for %s" % (timeout, what))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.2)


# -- a cluster ------------------------------------------------------------------

_standbys = itertools.count(1)


class Cluster:
    """A PostgreSQL cluster in dir (see the module's text).  fsync=False
    for speed where durability is not under test.  tied: the postmaster
    dies with this process (tests); the command line's start is not."""

    def __init__(self, dir, fsync=True, tied=True):
        self.dir = os.path.realpath(dir)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.fsync = fsync
        self.tied = tied
        self.bindir = bindir()
        self.proc = None
        self.port = self._conf().get("port")
        self.port = int(self.port) if self.port else None

    def __repr__(self):
        return "Cluster(%r, port %s)" % (self.dir, self.port)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- connection strings --

    def conninfo(self, dbname=DBNAME, **extra):
        """Over the Unix socket in dir."""
        return make_conninfo(host=self.dir, port=self.port, user=USER,
                             dbname=dbname, **extra)

    def tcp_conninfo(self, dbname=DBNAME, **extra):
        return make_conninfo(host="127.0.0.1", port=self.port, user=USER,
                             dbname=dbname, **extra)

    def sql(self, text, dbname=DBNAME, timeout=SQL_TIMEOUT_S):
        return psql(self.conninfo(dbname), text, timeout)

    def create_schema(self, name):
        create_schema(self.conninfo(), name)

    def drop_schema(self, name):
        drop_schema(self.conninfo(), name)

    # -- files --

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    def _chown(self, path):
        u = _server_user()
        if u:
            os.chown(path, u["user"], u["group"])

    def _auto_conf(self):
        return os.path.join(self.data, "postgresql.auto.conf")

    def _conf(self):
        """Settings in postgresql.auto.conf, where ours go (it overrides
        postgresql.conf, and ALTER SYSTEM keeps what it does not set)."""
        out = {}
        try:
            with open(self._auto_conf()) as f:
                for line in f:
                    m = re.match(r"\s*(\w+)\s*=\s*'((?:[^']|'')*)'", line)
                    if m:
                        out[m.group(1)] = m.group(2).replace("''", "'")
        except FileNotFoundError:
            pass
        return out

    def _set_conf(self, **settings):
        conf = self._conf()
        conf.update({k: str(v) for k, v in settings.items()})
        path = self._auto_conf()
        with open(path + ".tmp", "w") as f:
            f.write("# Do not edit this file manually!\n"
                    "# It will be overwritten by the ALTER SYSTEM command.\n")
            for k, v in conf.items():
                f.write("%s = '%s'\n" % (k, v.replace("'", "''")))
        self._chown(path + ".tmp")
        os.replace(path + ".tmp", path)

    def initialized(self):
        return os.path.exists(os.path.join(self.data, "PG_VERSION"))

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def _run(self, *cmd, what):
        """A server program run as the server's user, to its end."""
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=_clean_env(), timeout=START_TIMEOUT_S * 2,
                           cwd=self.dir, **_server_user())
        if p.returncode != 0:
            raise PGError("%s failed (status %d): %s\n%s"
                          % (what, p.returncode, " ".join(cmd),
                             p.stdout.decode("utf-8", "replace")))

    def _make_dir(self):
        os.makedirs(self.dir, exist_ok=True)
        self._chown(self.dir)
        if os.geteuid() == 0:
            # nobody must reach dir: every directory above it searchable.
            d = self.dir
            while d != "/":
                d = os.path.dirname(d)
                if not os.stat(d).st_mode & 0o001:
                    raise PGError("%s is not searchable by others: the "
                                  "cluster in %s runs as nobody"
                                  % (d, self.dir))

    def _settings(self):
        # Listen on loopback TCP as well as on the socket in dir; the same
        # port each start, so conninfo() stays valid across restarts.
        return {"listen_addresses": "127.0.0.1", "port": self.port,
                "unix_socket_directories": self.dir,
                "fsync": "on" if self.fsync else "off",
                "max_connections": 200}

    def init(self):
        """initdb (superuser jqtest, trust, no locale) into dir/data."""
        self._make_dir()
        self._run(self._bin("initdb"), "-D", self.data, "-U", USER,
                  "--auth=trust", "--no-locale", "-E", "UTF8",
                  "--no-instructions", what="initdb")
        self.port = free_port()
        self._set_conf(**self._settings())

    # -- life cycle --

    def pid(self):
        """The postmaster's pid if it runs, else None."""
        if self.proc is not None and self.proc.poll() is None:
            return self.proc.pid
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def _status(self, pid):
        # postmaster.pid's 8th line: starting, ready (a primary accepts
        # connections), standby (a hot standby does), stopping.  The file
        # of a killed postmaster stays until the next one replaces it,
        # saying "ready": only the line of the pid we started counts.
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                lines = f.read().split("\n")
        except OSError:
            return None
        if len(lines) < 8 or lines[0].strip() != str(pid):
            return None
        return lines[7].strip()

    def start(self):
        """Start postgres (initdb first if there is no cluster yet) and
        wait until it accepts connections.  Returns self."""
        first = not self.initialized()
        if first:
            self.init()
        self._set_conf(**self._settings())
        for attempt in range(5):
            try:
                self._spawn()
                break
            except PGError:
                # Our free port taken between free_port() and the bind.
                if not (first and attempt < 4 and "could not bind"
                        in self.log_tail(5)):
                    raise
                self.port = free_port()
                self._set_conf(**self._settings())
        if first:
            self.sql("CREATE DATABASE %s" % DBNAME, dbname="postgres")
        return self

    def _spawn(self):
        if self.pid() is not None:
            raise PGError("%r is running already" % self)
        log = open(self.log_path, "ab")
        self._chown(self.log_path)
        try:
            self.proc = subprocess.Popen(
                [self._bin("postgres"), "-D", self.data],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=_clean_env(), cwd=self.dir,
                preexec_fn=_tie_to_parent if self.tied else None,
                **_server_user())
        finally:
            log.close()

        def up():
            if self.proc.poll() is not None:
                return "exited"
            return self._status(self.proc.pid) in ("ready", "standby") \
                and "up"
        how = _wait(up, START_TIMEOUT_S, "postgres in %s to start" % self.dir)
        if how == "exited":
            raise PGError("postgres in %s exited at start (status %s):\n%s"
                          % (self.dir, self.proc.returncode, self.log_tail()))

    def _wait_gone(self, pid, timeout):
        if self.proc is not None and self.proc.pid == pid:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        try:
            _wait(lambda: not _pid_alive(pid), timeout, "pid %d" % pid)
        except PGError:
            return False
        return True

    def stop(self):
        """Fast shutdown (SIGINT): sessions ended, a checkpoint, exit.
        Idempotent; SIGKILL if it takes longer than STOP_TIMEOUT_S."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)
        if not self._wait_gone(pid, STOP_TIMEOUT_S):
            self.kill()

    def kill(self):
        """SIGKILL the postmaster and every process of the cluster, as if
        the machine went down; returns when none is left (a restart needs
        that: postgres refuses to start while an old backend holds the
        shared memory)."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

        def gone():
            left = [p for p in _processes_in(self.data) if _pid_alive(p)]
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return not left
        if pid is not None:
            self._wait_gone(pid, STOP_TIMEOUT_S)
        _wait(gone, STOP_TIMEOUT_S, "the processes of %s to die" % self.data)

    # -- replication --

    def in_recovery(self):
        return self.sql("SELECT pg_is_in_recovery()")[0][0] == "t"

    def replication(self):
        """pg_stat_replication on this primary: application_name -> (state,
        sync_state)."""
        return {r[0]: (r[1], r[2]) for r in self.sql(
            "SELECT application_name, state, sync_state "
            "FROM pg_stat_replication")}

    def standby(self, dir, sync=True, name=None):
        """A streaming replica of this (running) cluster in dir, started:
        pg_basebackup with a replication slot, then, with sync, named in
        this cluster's synchronous_standby_names (so a commit here returns
        once the standby has flushed it) and in sync before this returns."""
        st = Cluster(dir, fsync=self.fsync, tied=self.tied)
        if st.initialized():
            raise PGError("%s holds a cluster already" % st.dir)
        name = name or "standby_%d_%d" % (os.getpid(), next(_standbys))
        st._make_dir()
        st._run(self._bin("pg_basebackup"), "-d", self.conninfo(), "-D",
                st.data, "-X", "stream", "-C", "-S", name,
                "--checkpoint=fast", "-w", what="pg_basebackup")
        st.port = free_port()
        # The copied auto.conf carries our settings: the standby's own
        # port and socket, and no synchronous standbys of its own (once
        # promoted it must not wait for one).  Replication goes over TCP,
        # as between two machines.
        st._set_conf(synchronous_standby_names="",
                     primary_conninfo=self.tcp_conninfo(
                         dbname="postgres", application_name=name),
                     primary_slot_name=name, **st._settings())
        signal_file = os.path.join(st.data, "standby.signal")
        open(signal_file, "w").close()
        st._chown(signal_file)
        st.start()
        if sync:
            self.sql("ALTER SYSTEM SET synchronous_standby_names = %s; "
                     "SELECT pg_reload_conf()"
                     % ("'%s'" % quote_ident(name).replace("'", "''")))
        want = ("streaming", "sync" if sync else "async")
        _wait(lambda: self.replication().get(name) == want,
              REPLICATION_TIMEOUT_S,
              "standby %s %s (now %r)" % (name, want, self.replication()))
        st.name = name
        return st

    def promote(self):
        """Promote this standby and wait until it takes writes."""
        r = self.sql("SELECT pg_promote(true, %d)" % START_TIMEOUT_S)
        if r != [("t",)]:
            raise PGError("pg_promote in %s: %r\n%s"
                          % (self.dir, r, self.log_tail()))
        _wait(lambda: not self.in_recovery(), START_TIMEOUT_S,
              "%s out of recovery" % self.dir)


def multihost_conninfo(clusters, tcp=False, **extra):
    """One connection string naming several clusters, which libpq tries
    in order; with target_session_attrs=read-write (in extra) it settles
    on the primary, as jqd does to find a promoted standby."""
    hosts = ",".join("127.0.0.1" if tcp else c.dir for c in clusters)
    ports = ",".join(str(c.port) for c in clusters)
    return make_conninfo(host=hosts, port=ports, user=USER, dbname=DBNAME,
                         **extra)


# -- command line -----------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Throwaway PostgreSQL clusters for jqd's tests.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start", help="start (initdb if needed); print the "
                       "conninfo; leave it running")
    p.add_argument("dir")
    p.add_argument("--fsync", choices=("on", "off"), default="on")
    p = sub.add_parser("stop", help="fast shutdown")
    p.add_argument("dir")
    sub.add_parser("bindir", help="print where the server binaries are")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "bindir":
            print(bindir())
        elif args.cmd == "start":
            c = Cluster(args.dir, fsync=args.fsync == "on", tied=False)
            c.start()
            print(c.conninfo())
        else:
            c = Cluster(args.dir)
            if not c.initialized():
                sys.stderr.write("pgcluster: no cluster in %s\n" % args.dir)
                return 1
            c.stop()
    except NotInstalled as e:
        sys.stderr.write("pgcluster: %s\n" % e)
        return 77
    except PGError as e:
        sys.stderr.write("pgcluster: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
