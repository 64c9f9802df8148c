"""pgcluster.py, the throwaway PostgreSQL clusters of the tests, and the
command line jqtest gives jqd on PostgreSQL: what tests/pg.sh, and the
failover tests after it, rest on.  Needs the PostgreSQL server (exit 77
without it), not jqd.

  - a cluster runs unprivileged (nobody as root), takes connections on
    its socket and on 127.0.0.1 only, as role jqtest to database jqtest;
    fsync on unless asked;
  - schemas are made and dropped; jqtest's --store string, options with
    its space quoted, gives the session the schema as search_path (psql
    reads it as libpq, the same parser jqd uses);
  - a row committed before kill -9 of every server process is there
    after a restart; kill leaves no process behind;
  - a synchronous standby: a commit waits for it (does not return while
    it is down), a row committed on the primary is on the standby, and
    after the primary is killed and the standby promoted, nothing is
    lost and the standby takes writes; a multi-host string with
    target_session_attrs=read-write finds it;
  - the postmaster dies with the test that started it;
  - the command line: start prints a working conninfo, stop stops.
"""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import jqtest
import pgcluster
from pgcluster import Cluster, psql

HERE = os.path.dirname(os.path.abspath(__file__))


def server_uid():
    return pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 \
        else os.geteuid()


class TempDirs:
    def tempdir(self):
        d = tempfile.mkdtemp(prefix="jqd-pgc-")
        # nobody needs to reach into it; the cluster's own dir is handed
        # over by pgcluster.
        os.chmod(d, 0o755)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def cluster(self, **kw):
        c = Cluster(os.path.join(self.tempdir(), "pg"), **kw)
        # Cleanups run last in, first out: stop before the rmtree.
        self.addCleanup(c.stop)
        return c.start()


class ClusterTest(TempDirs, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dirs = tempfile.mkdtemp(prefix="jqd-pgc-")
        os.chmod(cls.dirs, 0o755)
        cls.c = Cluster(os.path.join(cls.dirs, "pg")).start()

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        shutil.rmtree(cls.dirs, True)

    def test_runs_unprivileged_as_jqtest(self):
        c = self.c
        self.assertEqual(c.sql("SELECT current_user, current_database()"),
                         [("jqtest", "jqtest")])
        # The postmaster and its children (checkpointer, walwriter, ...;
        # not a psql session's backend: it is gone when psql is).
        master = c.pid()
        self.assertEqual(os.stat("/proc/%d" % master).st_uid, server_uid())
        children = []
        for d in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid == master:
                    children.append((int(d), os.stat("/proc/" + d).st_uid))
            except (OSError, ValueError, IndexError):
                continue
        self.assertTrue(children, "the postmaster has no children")
        for pid, uid in children:
            self.assertEqual(uid, server_uid(), "process %d" % pid)
        self.assertEqual(c.conninfo(), "host=%s port=%d user=jqtest "
                         "dbname=jqtest" % (c.dir, c.port))

    def test_socket_and_loopback_tcp_only(self):
        c = self.c
        self.assertEqual(c.sql("SHOW listen_addresses"), [("127.0.0.1",)])
        self.assertEqual(c.sql("SHOW unix_socket_directories"), [(c.dir,)])
        self.assertTrue(os.path.exists(os.path.join(
            c.dir, ".s.PGSQL.%d" % c.port)))
        self.assertEqual(c.tcp_conninfo(), "host=127.0.0.1 port=%d "
                         "user=jqtest dbname=jqtest" % c.port)
        self.assertEqual(psql(c.tcp_conninfo(),
                              "SELECT host(inet_server_addr())"),
                         [("127.0.0.1",)])

    def test_fsync_on_by_default(self):
        self.assertEqual(self.c.sql("SHOW fsync"), [("on",)])

    def test_sql_rows(self):
        rows = self.c.sql("SELECT 1, NULL, 'a b'; "
                          "SELECT x FROM generate_series(1, 3) x")
        self.assertEqual(rows, [("1", None, "a b"), ("1",), ("2",), ("3",)])
        with self.assertRaises(pgcluster.PGError) as e:
            self.c.sql("SELECT * FROM no_such_table")
        self.assertIn("no_such_table", str(e.exception))

    def test_schemas(self):
        c = self.c
        c.create_schema("s_one")
        c.create_schema("s_one")        # IF NOT EXISTS
        c.sql("CREATE TABLE s_one.t (x int); INSERT INTO s_one.t VALUES (7)")
        self.assertEqual(c.sql("SELECT count(*) FROM pg_namespace "
                               "WHERE nspname = 's_one'"), [("1",)])
        c.drop_schema("s_one")          # CASCADE: with its table
        c.drop_schema("s_one")          # IF EXISTS
        self.assertEqual(c.sql("SELECT count(*) FROM pg_namespace "
                               "WHERE nspname = 's_one'"), [("0",)])

    def check_store(self, base):
        """jqtest's --store for base puts the schema first in the
        search_path; an unqualified table lands in it."""
        schema = jqtest.pg_schema(self.tempdir())
        store = jqtest.pg_store(base, schema)
        conninfo = store[len("postgres:"):] if store.startswith(
            "postgres:") and not store.startswith("postgres://") else store
        self.c.create_schema(schema)
        self.addCleanup(self.c.drop_schema, schema)
        self.assertEqual(psql(conninfo, "SHOW search_path"), [(schema,)])
        psql(conninfo, "CREATE TABLE t (x int)")
        self.assertEqual(self.c.sql(
            "SELECT schemaname FROM pg_tables WHERE tablename = 't' "
            "AND schemaname IN ('public', '%s')" % schema), [(schema,)])
        return store, schema

    def test_store_keywords(self):
        store, schema = self.check_store(self.c.conninfo())
        self.assertEqual(store, "postgres:%s options='-c search_path=%s'"
                         % (self.c.conninfo(), schema))

    def test_store_uri(self):
        c = self.c
        base = "postgresql://jqtest@127.0.0.1:%d/jqtest" % c.port
        store, schema = self.check_store(base)
        self.assertEqual(store, base + "?options=-c%20search_path%3D"
                         + schema)
        store, schema = self.check_store(base + "?connect_timeout=10")
        self.assertEqual(store, base + "?connect_timeout=10&options="
                         "-c%20search_path%3D" + schema)

    def test_schema_per_state_dir(self):
        d = self.tempdir()
        self.assertEqual(jqtest.pg_schema(d), jqtest.pg_schema(d + "/."))
        self.assertNotEqual(jqtest.pg_schema(d), jqtest.pg_schema(
            self.tempdir()))
        self.assertRegex(jqtest.pg_schema(d), r"^[a-z0-9_]{1,63}$")


class CrashTest(TempDirs, unittest.TestCase):
    def test_fsync_off(self):
        c = self.cluster(fsync=False)
        self.assertEqual(c.sql("SHOW fsync"), [("off",)])

    def test_kill_keeps_commits_and_leaves_nothing(self):
        c = self.cluster()
        c.sql("CREATE TABLE t (x int)")
        c.sql("INSERT INTO t SELECT generate_series(1, 1000)")
        port = c.port
        # A session open at the kill: its backend must go too.
        p = subprocess.Popen([pgcluster.psql_path(), "-X", "-d",
                              c.conninfo()], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(p.wait)
        self.addCleanup(p.stdin.close)
        self.addCleanup(p.kill)
        jqtest.wait_until(lambda: c.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
            "'client backend' AND pid <> pg_backend_pid()") == [("1",)],
            what="the psql session")
        self.assertGreater(len(pgcluster._processes_in(c.data)), 3)
        c.kill()
        self.assertIsNone(c.pid())
        self.assertEqual([p for p in pgcluster._processes_in(c.data)
                          if pgcluster._pid_alive(p)], [])
        c.start()
        self.assertEqual(c.port, port)
        self.assertEqual(c.sql("SELECT count(*), sum(x) FROM t"),
                         [("1000", "500500")])

    def test_dies_with_its_test(self):
        d = os.path.join(self.tempdir(), "pg")
        code = ("import sys, pgcluster; c = pgcluster.Cluster(sys.argv[1]); "
                "c.start(); print(c.pid(), flush=True); sys.stdin.read()")
        env = dict(os.environ, PYTHONPATH=HERE)
        p = subprocess.Popen([sys.executable, "-c", code, d], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        pid = int(p.stdout.readline())
        self.assertTrue(pgcluster._pid_alive(pid))
        p.kill()
        p.communicate()
        jqtest.wait_until(lambda: not pgcluster._pid_alive(pid),
                          what="the postmaster to die with its test")
        # Its backends follow once they see the postmaster gone.
        jqtest.wait_until(lambda: not [
            x for x in pgcluster._processes_in(os.path.realpath(d) + "/data")
            if pgcluster._pid_alive(x)], what="the backends to exit")


class StandbyTest(TempDirs, unittest.TestCase):
    def test_sync_standby_failover(self):
        primary = self.cluster()
        primary.sql("CREATE TABLE t (x int)")
        standby = primary.standby(os.path.join(self.tempdir(), "pg"))
        self.addCleanup(standby.stop)
        self.assertEqual(primary.replication(),
                         {standby.name: ("streaming", "sync")})
        self.assertTrue(standby.in_recovery())

        primary.sql("INSERT INTO t VALUES (1)")
        jqtest.wait_until(lambda: standby.sql("SELECT x FROM t") == [("1",)],
                          what="the row on the standby")

        # Synchronous: with the standby down, a commit does not return...
        standby.stop()
        w = subprocess.Popen([pgcluster.psql_path(), "-X", "-q", "-d",
                              primary.conninfo(), "-c",
                              "INSERT INTO t VALUES (2)"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(w.communicate)
        self.addCleanup(w.kill)
        with self.assertRaises(subprocess.TimeoutExpired):
            w.wait(1.0)
        # ... until the standby is back and has it.
        standby.start()
        out, err = w.communicate(timeout=60)
        self.assertEqual(w.returncode, 0, err)

        # Rows acknowledged by the primary, which then dies at once.
        primary.sql("INSERT INTO t SELECT generate_series(3, 500)")
        primary.kill()
        standby.promote()
        self.assertFalse(standby.in_recovery())
        self.assertEqual(standby.sql("SELECT count(*), sum(x) FROM t"),
                         [("500", str(500 * 501 // 2))])
        standby.sql("INSERT INTO t VALUES (501)")
        self.assertEqual(standby.sql("SELECT max(x) FROM t"), [("501",)])

        # A client naming both finds the one that takes writes.
        both = pgcluster.multihost_conninfo(
            [primary, standby], target_session_attrs="read-write")
        self.assertEqual(psql(both, "SHOW port"), [(str(standby.port),)])


class CommandLineTest(TempDirs, unittest.TestCase):
    def run_cli(self, *args):
        return subprocess.run([sys.executable,
                               os.path.join(HERE, "pgcluster.py")]
                              + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)

    def test_start_stop(self):
        d = os.path.join(self.tempdir(), "pg")
        p = self.run_cli("start", d, "--fsync", "off")
        self.assertEqual(p.returncode, 0, p.stderr)
        conninfo = p.stdout.decode().strip()
        c = Cluster(d)
        self.addCleanup(c.stop)
        self.assertEqual(conninfo, c.conninfo())
        self.assertEqual(psql(conninfo, "SHOW fsync"), [("off",)])
        pid = c.pid()
        self.assertIsNotNone(pid)
        p = self.run_cli("stop", d)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(pgcluster._pid_alive(pid))
        self.assertIsNone(c.pid())

    def test_stop_without_cluster(self):
        p = self.run_cli("stop", os.path.join(self.tempdir(), "none"))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"no cluster", p.stderr)


def main():
    try:
        pgcluster.bindir()
    except pgcluster.NotInstalled as e:
        sys.stderr.write("%s; skipping\n" % e)
        sys.exit(77)
    t = time.monotonic()
    prog = unittest.main(exit=False)
    sys.stderr.write("test_pgcluster: %.1f s\n" % (time.monotonic() - t))
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
