/* test-dbus-users.c — one daemon for every user (issue 13), as root: the
 * real elife-pmd as root on a private bus configured like the system bus
 * with the project's policy file, and clients of two test users created for
 * the run. Each process belongs to its caller, runs as it, opens its files
 * as it, and is out of the other user's reach; root reaches all. */
#include "pm-test-users.h"

#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define PM_TEST_ERROR_LOG_FAILED     "org.elife.ProcessManager.Error.LogFailed"
#define PM_TEST_ERROR_LIMIT_EXCEEDED "org.elife.ProcessManager.Error.LimitExceeded"
#define DBUS_ERROR_ACCESS_DENIED     "org.freedesktop.DBus.Error.AccessDenied"

static const PmFixtureOptions system_bus = { .system_bus = TRUE };
static const char * const small_cap_args[] = { "--max-per-user", "3", NULL };
static const PmFixtureOptions system_bus_small_cap = {
  .system_bus = TRUE, .daemon_args = small_cap_args,
};
static PmFixtureOptions user_daemon = { .open_bus = TRUE };

static const char *skip_reason;

#define U1 pm_test_user (0)
#define U2 pm_test_user (1)

static GVariant *
sleeper (const char *name)
{
  return pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>, 'name': <%s>,"
                  " 'stopTimeout': <uint32 50>, 'restartAt': <@au []>}", name);
}

/* ---- /proc ---------------------------------------------------------------- */

/* The whitespace-separated values of "FIELD:" in /proc/PID/status. */
static GStrv
status_field (guint32 pid, const char *field)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%u/status", pid);
  g_autofree gchar *text = NULL;
  g_autofree gchar *key = g_strdup_printf ("\n%s:", field);
  const char *line, *end;
  g_autofree gchar *value = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  line = strstr (text, key);
  g_assert_nonnull (line);
  line += strlen (key);
  end = strchr (line, '\n');
  value = g_strndup (line, end ? (gsize) (end - line) : strlen (line));
  return g_strsplit_set (g_strstrip (value), " \t", -1);
}

static void
assert_ids (guint32 pid, const char *field, guint id)
{
  g_auto(GStrv) v = status_field (pid, field);
  guint n = 0;

  /* real, effective, saved, file system */
  for (char **p = v; *p; p++)
    {
      if (**p == '\0')
        continue;
      g_assert_cmpuint ((guint) g_ascii_strtoull (*p, NULL, 10), ==, id);
      n++;
    }
  g_assert_cmpuint (n, ==, 4);
}

static gboolean
groups_contain (guint32 pid, gid_t gid)
{
  g_auto(GStrv) v = status_field (pid, "Groups");

  for (char **p = v; *p; p++)
    if (**p != '\0' && (gid_t) g_ascii_strtoull (*p, NULL, 10) == gid)
      return TRUE;
  return FALSE;
}

static guint
groups_count (guint32 pid)
{
  g_auto(GStrv) v = status_field (pid, "Groups");
  guint n = 0;

  for (char **p = v; *p; p++)
    if (**p != '\0')
      n++;
  return n;
}

static GStrv
proc_environ (guint32 pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%u/environ", pid);
  g_autofree gchar *text = NULL;
  gsize len = 0;
  GPtrArray *env = g_ptr_array_new ();

  g_assert_true (g_file_get_contents (path, &text, &len, NULL));
  for (gsize i = 0; i < len; i += strlen (text + i) + 1)
    g_ptr_array_add (env, g_strdup (text + i));
  g_ptr_array_add (env, NULL);
  return (GStrv) g_ptr_array_free (env, FALSE);
}

static guint
file_uid (const char *path)
{
  struct stat st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_uid;
}

typedef struct
{
  const char *path;
  const char *text;
} FileWait;

static gboolean
file_is_cond (gpointer data)
{
  FileWait *w = data;
  g_autofree gchar *text = pm_read_file (w->path);

  return g_strcmp0 (text, w->text) == 0;
}

/* Waits for @path to hold exactly @text (a child's lines reach its log
 * soon after its exit, not necessarily before the Exited signal). */
static void
assert_file_becomes (const char *path, const char *text)
{
  FileWait w = { path, text };

  if (!pm_wait_for (file_is_cond, &w, PM_TEST_TIMEOUT_MS))
    {
      g_autofree gchar *got = pm_read_file (path);

      g_error ("%s holds \"%s\", not \"%s\"", path, got ? got : "(nothing)", text);
    }
}

/* A directory under the fixture's temp dir that belongs to @user. */
static gchar *
user_dir (PmFixture *f, const PmTestUser *user)
{
  gchar *dir = pm_tmp_path (f, user->name);

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  g_assert_cmpint (chown (dir, user->uid, user->gid), ==, 0);
  return dir;
}

/* ---- the policy ----------------------------------------------------------- */

static void
test_policy_owner (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  /* The daemon (root) owns the name; a user may not, even to queue. */
  reply = pm_call_as (f, U1, "/org/freedesktop/DBus", "org.freedesktop.DBus",
                      "RequestName", g_variant_new ("(su)", PM_TEST_BUS_NAME, 0), 1, NULL,
                      &error);
  g_assert_null (reply);
  pm_assert_remote_error (error, DBUS_ERROR_ACCESS_DENIED);
  g_clear_error (&error);

  /* Everyone may call the interfaces the policy names. */
  reply = pm_call_as (f, U1, PM_TEST_PATH, "org.freedesktop.DBus.Properties", "Get",
                      g_variant_new ("(ss)", PM_TEST_IFACE, "Version"), 1, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  reply = pm_call_as (f, U1, PM_TEST_PATH, "org.freedesktop.DBus.Introspectable", "Introspect",
                      NULL, 1, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  reply = pm_call_as (f, U1, PM_TEST_PATH, "org.freedesktop.DBus.Peer", "Ping",
                      NULL, 1, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  reply = pm_call_as (f, U1, PM_TEST_PATH, "org.freedesktop.DBus.ObjectManager",
                      "GetManagedObjects", NULL, 1, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  /* ... and nothing else. */
  reply = pm_call_as (f, U1, PM_TEST_PATH, "org.example.Other", "Anything",
                      NULL, 1, NULL, &error);
  g_assert_null (reply);
  pm_assert_remote_error (error, DBUS_ERROR_ACCESS_DENIED);
}

/* ---- running as the caller ------------------------------------------------ */

static void
test_runs_as_caller (PmFixture *f, gconstpointer data)
{
  g_auto(GStrv) env = NULL;
  g_autofree gchar *home = g_strdup_printf ("/nonexistent/%s", U1->name);
  guint32 id, pid, root_id, root_pid;

  id = pm_start_as_ok (f, U1, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>,"
                                       " 'name': <'mine'>, 'env': <{'EXTRA': 'yes', 'USER': 'me'}>}"),
                       &pid);
  g_assert_cmpuint (pm_get_uint (f, id, "User"), ==, U1->uid);
  assert_ids (pid, "Uid", U1->uid);
  assert_ids (pid, "Gid", U1->gid);
  g_assert_true (groups_contain (pid, U1->gid));
  g_assert_true (groups_contain (pid, pm_test_shared_gid ()));
  g_assert_cmpuint (groups_count (pid), ==, 2);

  /* A minimal environment, never the daemon's; env merged over it. */
  env = proc_environ (pid);
  g_assert_cmpstr (g_environ_getenv (env, "PATH"), ==, "/usr/local/bin:/usr/bin:/bin");
  g_assert_cmpstr (g_environ_getenv (env, "HOME"), ==, home);
  g_assert_cmpstr (g_environ_getenv (env, "LOGNAME"), ==, U1->name);
  g_assert_cmpstr (g_environ_getenv (env, "SHELL"), ==, "/bin/sh");
  g_assert_cmpstr (g_environ_getenv (env, "LANG"), ==, "C.UTF-8");
  g_assert_cmpstr (g_environ_getenv (env, "USER"), ==, "me");
  g_assert_cmpstr (g_environ_getenv (env, "EXTRA"), ==, "yes");
  g_assert_cmpstr (g_environ_getenv (env, "ELIFE_PM_NAME"), ==, "mine");
  g_assert_null (g_environ_getenv (env, "ELIFE_PM_TEST_MARKER"));
  g_assert_null (g_environ_getenv (env, "G_DEBUG"));

  /* Root's own processes run as root, in the daemon's environment. */
  root_id = pm_start_ok (f, sleeper ("root"), &root_pid);
  g_assert_cmpuint (pm_get_uint (f, root_id, "User"), ==, 0);
  assert_ids (root_pid, "Uid", 0);
  g_strfreev (env);
  env = proc_environ (root_pid);
  g_assert_cmpstr (g_environ_getenv (env, "ELIFE_PM_TEST_MARKER"), ==, "inherited");
}

static void
test_clear_env (PmFixture *f, gconstpointer data)
{
  g_auto(GStrv) env = NULL;
  guint32 pid;

  pm_start_as_ok (f, U1, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>,"
                                  " 'clearEnv': <true>, 'env': <{'ONLY': '1'}>}"), &pid);
  assert_ids (pid, "Uid", U1->uid);
  env = proc_environ (pid);
  g_assert_cmpstr (g_environ_getenv (env, "ONLY"), ==, "1");
  g_assert_null (g_environ_getenv (env, "HOME"));
  g_assert_null (g_environ_getenv (env, "PATH"));
  g_assert_null (g_environ_getenv (env, "ELIFE_PM_TEST_MARKER"));
  /* Only env, besides what the daemon always tells its children. */
  for (char **kv = env; *kv; kv++)
    g_assert_true (g_str_has_prefix (*kv, "ONLY=") || g_str_has_prefix (*kv, "ELIFE_PM_"));
}

/* ---- files as the caller ---------------------------------------------------- */

static void
test_log_owned_by_caller (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = user_dir (f, U1);
  g_autofree gchar *log = g_build_filename (dir, "new", "sub", "out.log", NULL);
  g_autofree gchar *sub = g_build_filename (dir, "new", NULL);
  guint32 id;

  id = pm_start_as_ok (f, U1, pm_opts ("{'script': <'/bin/echo'>, 'args': <['hello']>,"
                                       " 'log': <%s>, 'restartAt': <@au []>}", log), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  assert_file_becomes (log, "hello\n");
  g_assert_cmpuint (file_uid (log), ==, U1->uid);
  g_assert_cmpuint (file_uid (sub), ==, U1->uid);
}

static void
test_log_refused (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *etc = g_strdup_printf ("/etc/elifepm-test-%d.log", (int) getpid ());
  g_autofree gchar *root_dir = pm_tmp_path (f, "root-only");
  g_autofree gchar *deep = g_build_filename (root_dir, "made", "x.log", NULL);
  g_autofree gchar *made = g_build_filename (root_dir, "made", NULL);

  g_assert_cmpint (g_mkdir (root_dir, 0755), ==, 0);

  g_assert_cmpuint (pm_start_as (f, U1, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>,"
                                                 " 'log': <%s>}", etc), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_LOG_FAILED);
  g_assert_nonnull (strstr (error->message, "Permission denied"));
  g_assert_nonnull (strstr (error->message, etc));
  g_assert_false (g_file_test (etc, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  /* Nor a directory on the way. */
  g_assert_cmpuint (pm_start_as (f, U1, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>,"
                                                 " 'log': <%s>}", deep), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_LOG_FAILED);
  g_assert_nonnull (strstr (error->message, "Permission denied"));
  g_assert_false (g_file_test (made, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  /* Another user's file is not writable for them either. */
  {
    g_autofree gchar *dir = user_dir (f, U1);
    g_autofree gchar *log = g_build_filename (dir, "u1.log", NULL);
    guint32 id;

    id = pm_start_as_ok (f, U1, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>,"
                                         " 'log': <%s>}", log), NULL);
    g_assert_cmpuint (pm_start_as (f, U2, pm_opts ("{'script': <'/bin/sleep'>,"
                                                   " 'args': <['1000']>, 'log': <%s>}", log),
                                   &error), ==, 0);
    pm_assert_remote_error (error, PM_TEST_ERROR_LOG_FAILED);
    g_assert_cmpuint (pm_list_count (f), ==, 1);
    g_assert_cmpuint (pm_get_uint (f, id, "User"), ==, U1->uid);
  }

  /* Root may write there: the refusals were the users'. */
  pm_start_ok (f, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>, 'log': <%s>}", deep),
               NULL);
  g_assert_cmpuint (file_uid (deep), ==, 0);
}

static void
test_shared_log (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = pm_tmp_path (f, "shared");
  g_autofree gchar *log = g_build_filename (dir, "both.log", NULL);
  guint32 a, b;

  /* A file both may write (their shared group): one writer, two users. */
  g_assert_cmpint (g_mkdir (dir, 0775), ==, 0);
  g_assert_cmpint (chown (dir, 0, pm_test_shared_gid ()), ==, 0);
  g_assert_true (g_file_set_contents (log, "", 0, NULL));
  g_assert_cmpint (chown (log, U1->uid, pm_test_shared_gid ()), ==, 0);
  g_assert_cmpint (g_chmod (log, 0664), ==, 0);

  a = pm_start_as_ok (f, U1, pm_opts ("{'script': <'/bin/echo'>, 'args': <['from-one']>,"
                                      " 'log': <%s>, 'restartAt': <@au []>}", log), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", a, PM_TEST_TIMEOUT_MS));
  assert_file_becomes (log, "from-one\n");
  b = pm_start_as_ok (f, U2, pm_opts ("{'script': <'/bin/echo'>, 'args': <['from-two']>,"
                                      " 'log': <%s>, 'restartAt': <@au []>}", log), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", b, PM_TEST_TIMEOUT_MS));
  assert_file_becomes (log, "from-one\nfrom-two\n");
  g_assert_cmpuint (file_uid (log), ==, U1->uid);
}

static void
test_paths_checked_as_caller (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *script = pm_write_script (f, "private.sh", "#!/bin/sh\nexec sleep 1000\n",
                                              0700);
  g_autofree gchar *py = pm_write_script (f, "private.py", "import time\ntime.sleep(1000)\n",
                                          0600);
  g_autofree gchar *closed = pm_tmp_path (f, "closed");

  g_assert_cmpint (g_mkdir (closed, 0700), ==, 0);

  g_assert_cmpuint (pm_start_as (f, U1, pm_opts ("{'script': <%s>}", script), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_SPAWN_FAILED);
  g_assert_nonnull (strstr (error->message, "Permission denied"));
  g_assert_nonnull (strstr (error->message, script));
  g_clear_error (&error);

  /* A script the interpreter would read. */
  g_assert_cmpuint (pm_start_as (f, U1, pm_opts ("{'script': <%s>}", py), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_SPAWN_FAILED);
  g_assert_nonnull (strstr (error->message, "Permission denied"));
  g_clear_error (&error);

  /* A working directory they may not enter. */
  g_assert_cmpuint (pm_start_as (f, U1, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1']>,"
                                                 " 'cwd': <%s>}", closed), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_SPAWN_FAILED);
  g_assert_nonnull (strstr (error->message, "Permission denied"));
  g_clear_error (&error);

  /* An interpreter they may not run. */
  g_assert_cmpuint (pm_start_as (f, U1, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1']>,"
                                                 " 'interpreter': <%s>}", script), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_SPAWN_FAILED);
  g_assert_nonnull (strstr (error->message, "Permission denied"));
  g_clear_error (&error);

  g_assert_cmpuint (pm_list_count (f), ==, 0);
  /* Root may. */
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'cwd': <%s>}", script, closed), NULL);
}

/* ---- rotation as the caller ------------------------------------------------ */

/* Options of a child printing numbered lines (about 60 bytes each, in
 * fives) into @log, which rotates at 4096 bytes with 2 backups, until the
 * file @until exists. */
static GVariant *
rotating_opts (const char *log, const char *until)
{
  return pm_opts (
      "{'script': <'/bin/sh'>, 'args': <['-c', %s, 'producer', %s]>, 'name': <'rot'>,"
      " 'log': <%s>, 'logMaxBytes': <uint64 4096>, 'logBackups': <uint32 2>,"
      " 'restartAt': <@au []>, 'stopTimeout': <uint32 200>}",
      "i=0; while [ ! -e \"$1\" ]; do for k in 1 2 3 4 5; do i=$((i+1)); "
      "echo \"line $i ..............................................\"; done; "
      "sleep 0.02; done; exec sleep 1000",
      until, log);
}

static guint32
start_rotating_as (PmFixture *f, const PmTestUser *user, const char *log, const char *until)
{
  return pm_start_as_ok (f, user, rotating_opts (log, until), NULL);
}

typedef struct
{
  const char * const *paths;
  const char         *needle;
} AnyFileWait;

static gboolean
any_file_has_cond (gpointer data)
{
  AnyFileWait *w = data;

  for (guint i = 0; w->paths[i]; i++)
    {
      g_autofree gchar *text = pm_read_file (w->paths[i]);

      if (text != NULL && strstr (text, w->needle) != NULL)
        return TRUE;
    }
  return FALSE;
}

/* A user's log rotates as the user: the new file and the backups are the
 * user's (in the user's directory, where the daemon as root would make
 * them root's without the rule). */
static void
test_rotation_owned_by_caller (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = user_dir (f, U1);
  g_autofree gchar *log = g_build_filename (dir, "r.log", NULL);
  g_autofree gchar *log1 = g_build_filename (dir, "r.log.1", NULL);
  g_autofree gchar *log2 = g_build_filename (dir, "r.log.2", NULL);
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  guint32 id = start_rotating_as (f, U1, log, until);

  pm_wait_u64_above (f, id, "LogRotations", 2, PM_TEST_TIMEOUT_MS * 3);
  g_assert_true (g_file_set_contents (until, "", 0, NULL));
  g_assert_cmpuint (pm_get_u64 (f, id, "LostLines"), ==, 0);
  g_assert_cmpuint (file_uid (log), ==, U1->uid);
  g_assert_cmpuint (file_uid (log1), ==, U1->uid);
  g_assert_cmpuint (file_uid (log2), ==, U1->uid);
  {
    struct stat st;

    g_assert_cmpint (g_stat (log, &st), ==, 0);
    g_assert_cmpuint (st.st_gid, ==, U1->gid);
    g_assert_cmpint (g_stat (log1, &st), ==, 0);
    g_assert_cmpuint (st.st_gid, ==, U1->gid);
    g_assert_cmpuint (st.st_size, <=, 4096);
  }
}

/* The rotation runs with the user's credentials: in a sticky directory
 * (1777, root's), the user's log is the user's to move, but root's r.log.1
 * is not (rename(2): EPERM), though root could move it. So the rotation is
 * refused for the user: lines are lost and counted, root's file is as it
 * was, the daemon and the child go on; once the user may move it, the next
 * batch rotates and the log says what was lost. */
static void
test_rotation_refused_as_caller (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = pm_tmp_path (f, "sticky");
  g_autofree gchar *log = g_build_filename (dir, "r.log", NULL);
  g_autofree gchar *log1 = g_build_filename (dir, "r.log.1", NULL);
  g_autofree gchar *log2 = g_build_filename (dir, "r.log.2", NULL);
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  const char *roots = "root's backup\n";
  const char *want = "lines lost (Operation not permitted)";
  const char * const paths[] = { log, log1, log2, NULL };
  AnyFileWait w = { paths, want };
  g_autofree gchar *text = NULL;
  g_autofree gchar *state = NULL;
  guint64 lost;
  guint32 id;

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  g_assert_cmpint (g_chmod (dir, 01777), ==, 0);
  g_assert_true (g_file_set_contents (log1, roots, -1, NULL));
  g_assert_cmpint (g_chmod (log1, 0644), ==, 0);
  g_assert_cmpuint (file_uid (log1), ==, 0);

  id = start_rotating_as (f, U1, log, until);
  lost = pm_wait_u64_above (f, id, "LostLines", 0, PM_TEST_TIMEOUT_MS * 3);
  lost = pm_wait_u64_above (f, id, "LostLines", lost, PM_TEST_TIMEOUT_MS * 3);
  pm_report ("%" G_GUINT64_FORMAT " lines lost while root's r.log.1 is in the way", lost);
  g_assert_cmpuint (pm_get_u64 (f, id, "LogRotations"), ==, 0);
  text = pm_read_file (log1);
  g_assert_cmpstr (text, ==, roots);
  g_assert_cmpuint (file_uid (log1), ==, 0);
  g_assert_false (g_file_test (log2, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (file_uid (log), ==, U1->uid);
  {
    struct stat st;

    g_assert_cmpint (g_stat (log, &st), ==, 0);
    g_assert_cmpuint (st.st_size, <=, 4096);
  }
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "running");
  g_assert_false (f->daemon_exited);
  g_assert_cmpuint (pm_list_count (f), ==, 1);

  /* Now the user may move it: the next batch rotates, and the loss is
   * reported in the user's log. The producer stops, so that no later
   * rotation takes the report away. */
  g_assert_cmpint (chown (log1, U1->uid, U1->gid), ==, 0);
  pm_wait_u64_above (f, id, "LogRotations", 0, PM_TEST_TIMEOUT_MS * 3);
  g_assert_true (g_file_set_contents (until, "", 0, NULL));
  if (!pm_wait_for (any_file_has_cond, &w, PM_TEST_TIMEOUT_MS * 2))
    g_error ("no “%s” in %s or its backups", want, log);
  g_assert_cmpuint (file_uid (log), ==, U1->uid);

  /* The same arrangement does not stop root's own rotation: the refusal
   * was the user's. */
  {
    g_autofree gchar *rlog = g_build_filename (dir, "root.log", NULL);
    g_autofree gchar *rlog1 = g_build_filename (dir, "root.log.1", NULL);
    g_autofree gchar *runtil = pm_tmp_path (f, "stop-root");
    guint32 rid;

    g_assert_true (g_file_set_contents (rlog1, roots, -1, NULL));
    rid = pm_start_ok (f, rotating_opts (rlog, runtil), NULL);
    pm_wait_u64_above (f, rid, "LogRotations", 0, PM_TEST_TIMEOUT_MS * 3);
    g_assert_true (g_file_set_contents (runtil, "", 0, NULL));
    g_assert_cmpuint (pm_get_u64 (f, rid, "LostLines"), ==, 0);
  }
}

/* ---- acting on processes ------------------------------------------------------ */

typedef struct
{
  guint32 id1, pid1, id2, pid2;
} TwoOwners;

/* "svc" of each user, and "only1" of user 1. */
static void
start_two_owners (PmFixture *f, TwoOwners *t, guint32 *only1)
{
  t->id1 = pm_start_as_ok (f, U1, sleeper ("svc"), &t->pid1);
  t->id2 = pm_start_as_ok (f, U2, sleeper ("svc"), &t->pid2);
  if (only1 != NULL)
    *only1 = pm_start_as_ok (f, U1, sleeper ("only1"), NULL);
}

static guint32
name_call_as (PmFixture *f, const PmTestUser *user, const char *method, const char *name,
              GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 n = 0;

  reply = pm_call_as (f, user, PM_TEST_PATH, PM_TEST_IFACE, method,
                      name ? g_variant_new ("(s)", name) : NULL, 1, NULL, error);
  if (reply != NULL)
    g_variant_get (reply, "(u)", &n);
  return n;
}

static void
test_stop_by_name (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  TwoOwners t;
  guint32 only1;

  start_two_owners (f, &t, &only1);

  /* Only one's own of that name. */
  g_assert_cmpuint (name_call_as (f, U2, "Stop", "svc", &error), ==, 1);
  g_assert_no_error (error);
  pm_assert_pid_dead ((pid_t) t.pid2, PM_TEST_TIMEOUT_MS);
  g_assert_true (pm_pid_alive ((pid_t) t.pid1));
  g_assert_cmpuint (pm_count_signals (f, "Stopping", t.id1), ==, 0);

  /* None of one's own: NotFound, the other's untouched. */
  g_assert_cmpuint (name_call_as (f, U2, "Stop", "only1", &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", only1), ==, 0);
  g_assert_cmpuint (pm_list_count (f), ==, 2);
}

static void
test_restart_by_name (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  TwoOwners t;
  guint32 only1;

  start_two_owners (f, &t, &only1);

  g_assert_cmpuint (name_call_as (f, U2, "Restart", "svc", &error), ==, 1);
  g_assert_no_error (error);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", t.id2, 2, PM_TEST_TIMEOUT_MS));
  g_assert_cmpuint (pm_count_signals (f, "Started", t.id1), ==, 1);
  g_assert_cmpuint (pm_get_uint (f, t.id1, "Pid"), ==, t.pid1);
  g_assert_true (pm_pid_alive ((pid_t) t.pid1));
  /* The restarted one still runs as its owner. */
  assert_ids (pm_get_uint (f, t.id2, "Pid"), "Uid", U2->uid);

  g_assert_cmpuint (name_call_as (f, U2, "Restart", "only1", &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", only1), ==, 0);
}

static void
test_stop_all (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  TwoOwners t;
  guint32 only1;

  start_two_owners (f, &t, &only1);

  g_assert_cmpuint (name_call_as (f, U2, "StopAll", NULL, &error), ==, 1);
  g_assert_no_error (error);
  pm_assert_pid_dead ((pid_t) t.pid2, PM_TEST_TIMEOUT_MS);
  g_assert_true (pm_pid_alive ((pid_t) t.pid1));
  g_assert_cmpuint (pm_list_count (f), ==, 2);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", t.id1), ==, 0);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", only1), ==, 0);
}

static void
test_object_methods (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree gchar *path1 = NULL;
  g_autofree gchar *path2 = NULL;
  TwoOwners t;

  start_two_owners (f, &t, NULL);
  path1 = pm_process_path (t.id1);
  path2 = pm_process_path (t.id2);

  reply = pm_call_as (f, U2, path1, PM_TEST_PROCESS_IFACE, "Stop", NULL, 1, NULL, &error);
  g_assert_null (reply);
  pm_assert_remote_error (error, DBUS_ERROR_ACCESS_DENIED);
  g_clear_error (&error);
  reply = pm_call_as (f, U2, path1, PM_TEST_PROCESS_IFACE, "Restart", NULL, 1, NULL, &error);
  g_assert_null (reply);
  pm_assert_remote_error (error, DBUS_ERROR_ACCESS_DENIED);
  g_clear_error (&error);

  /* Nothing happened to it. */
  pm_iterate_for (200);
  g_assert_cmpuint (pm_count_signals (f, "Stopping", t.id1), ==, 0);
  g_assert_cmpuint (pm_count_signals (f, "Started", t.id1), ==, 1);
  g_assert_cmpuint (pm_get_uint (f, t.id1, "Pid"), ==, t.pid1);
  g_assert_true (pm_pid_alive ((pid_t) t.pid1));

  /* One's own, yes. */
  reply = pm_call_as (f, U2, path2, PM_TEST_PROCESS_IFACE, "Restart", NULL, 1, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", t.id2, 2, PM_TEST_TIMEOUT_MS));
  reply = pm_call_as (f, U2, path2, PM_TEST_PROCESS_IFACE, "Stop", NULL, 1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pm_list_count (f), ==, 1);
}

static void
test_replace_own_only (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  TwoOwners t;
  guint32 id, pid;

  start_two_owners (f, &t, NULL);

  id = pm_start_as_ok (f, U2, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>,"
                                       " 'name': <'svc'>, 'replace': <true>,"
                                       " 'stopTimeout': <uint32 50>}"), &pid);
  pm_assert_pid_dead ((pid_t) t.pid2, PM_TEST_TIMEOUT_MS);
  g_assert_true (pm_pid_alive ((pid_t) t.pid1));
  g_assert_cmpuint (pm_count_signals (f, "Stopping", t.id1), ==, 0);
  g_assert_cmpuint (pm_list_count (f), ==, 2);
  g_assert_true (pm_list_lookup (f, t.id1, NULL, NULL, NULL, NULL));
  g_assert_true (pm_list_lookup (f, id, NULL, NULL, NULL, NULL));
  g_assert_false (pm_list_lookup (f, t.id2, NULL, NULL, NULL, NULL));
}

static void
test_root_acts_on_all (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree gchar *path1 = NULL;
  TwoOwners t;
  guint32 only1;

  start_two_owners (f, &t, &only1);

  g_assert_cmpuint (pm_restart (f, "svc", &error), ==, 2);
  g_assert_no_error (error);
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", t.id1, 2, PM_TEST_TIMEOUT_MS));
  g_assert_nonnull (pm_wait_for_nth_signal (f, "Started", t.id2, 2, PM_TEST_TIMEOUT_MS));
  /* Restarted by root, still run as their owners. */
  assert_ids (pm_get_uint (f, t.id1, "Pid"), "Uid", U1->uid);
  assert_ids (pm_get_uint (f, t.id2, "Pid"), "Uid", U2->uid);

  path1 = pm_process_path (only1);
  reply = pm_call_full (f, path1, PM_TEST_PROCESS_IFACE, "Stop", NULL, NULL,
                        PM_TEST_TIMEOUT_MS, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pm_stop (f, "svc", &error), ==, 2);
  g_assert_no_error (error);

  pm_start_as_ok (f, U1, sleeper ("a"), NULL);
  pm_start_as_ok (f, U2, sleeper ("b"), NULL);
  g_assert_cmpuint (pm_stop_all (f, &error), ==, 2);
  g_assert_no_error (error);
  g_assert_cmpuint (pm_list_count (f), ==, 0);
}

static void
test_reading_open (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) list = NULL;
  g_autoptr(GVariant) user = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autofree gchar *path1 = NULL;
  TwoOwners t;

  start_two_owners (f, &t, NULL);
  path1 = pm_process_path (t.id1);

  list = pm_call_as (f, U2, PM_TEST_PATH, PM_TEST_IFACE, "List", NULL, 1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (g_variant_get_child_value (list, 0)), ==, 2);
  user = pm_call_as (f, U2, path1, "org.freedesktop.DBus.Properties", "Get",
                     g_variant_new ("(ss)", PM_TEST_PROCESS_IFACE, "User"), 1, NULL, &error);
  g_assert_no_error (error);
  {
    g_autoptr(GVariant) v = NULL;

    g_variant_get (user, "(v)", &v);
    g_assert_cmpuint (g_variant_get_uint32 (v), ==, U1->uid);
  }
  objects = pm_call_as (f, U2, PM_TEST_PATH, "org.freedesktop.DBus.ObjectManager",
                        "GetManagedObjects", NULL, 1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (g_variant_get_child_value (objects, 0)), ==, 2);
}

static gboolean
none_listed (gpointer data)
{
  return pm_list_count (data) == 0;
}

static void
test_stop_with_caller (PmFixture *f, gconstpointer data)
{
  guint32 id, pid;

  /* The client leaves right after the reply: its process goes with it. */
  id = pm_start_as_ok (f, U1, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>,"
                                       " 'stopWithCaller': <true>, 'stopTimeout': <uint32 50>}"),
                       &pid);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, PM_TEST_TIMEOUT_MS));
  pm_assert_pid_dead ((pid_t) pid, PM_TEST_TIMEOUT_MS);
  g_assert_true (pm_wait_for (none_listed, f, PM_TEST_TIMEOUT_MS));
}

static gboolean
daemon_exited (gpointer data)
{
  return ((PmFixture *) data)->daemon_exited;
}

static void
test_daemon_killed (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = user_dir (f, U1);
  g_autofree gchar *pid_file = g_build_filename (dir, "grandchild.pid", NULL);
  g_autofree gchar *script = NULL;
  g_autofree gchar *text = NULL;
  pid_t grandchild;
  guint32 pid;

  /* A child of the user's with a grandchild in its group. */
  text = g_strdup_printf ("#!/bin/sh\nsleep 1000 &\necho $! > %s\nexec sleep 1000\n", pid_file);
  script = pm_write_script (f, "family.sh", text, 0755);
  pm_start_as_ok (f, U1, pm_opts ("{'script': <%s>}", script), &pid);
  grandchild = pm_read_pid_file (pid_file, PM_TEST_TIMEOUT_MS);
  g_assert_cmpint (grandchild, >, 0);
  pm_track_pid (f, grandchild);
  assert_ids ((guint32) grandchild, "Uid", U1->uid);

  /* kill -9 of the daemon: the child (parent-death signal, armed after its
   * change of uid) and the grandchild (the watchdog) go too. */
  g_subprocess_send_signal (f->daemon, SIGKILL);
  g_assert_true (pm_wait_for (daemon_exited, f, PM_TEST_TIMEOUT_MS));
  g_clear_object (&f->daemon);
  pm_assert_pid_dead ((pid_t) pid, PM_TEST_TIMEOUT_MS);
  pm_assert_pid_dead (grandchild, PM_TEST_TIMEOUT_MS);
}

/* ---- fair share ------------------------------------------------------------------ */

static void
test_cap_option (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint32 first = 0;

  for (int i = 0; i < 3; i++)
    {
      guint32 id = pm_start_as_ok (f, U1, sleeper ("capped"), NULL);

      if (first == 0)
        first = id;
    }
  g_assert_cmpuint (pm_start_as (f, U1, sleeper ("capped"), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);
  /* Not for the others, nor root. */
  pm_start_as_ok (f, U2, sleeper ("other"), NULL);
  pm_start_ok (f, sleeper ("root"), NULL);
  /* A stopped one makes room again. */
  {
    g_autofree gchar *path = pm_process_path (first);
    g_autoptr(GVariant) reply = pm_call_as (f, U1, path, PM_TEST_PROCESS_IFACE, "Stop", NULL, 1,
                                            NULL, &error);

    g_assert_no_error (error);
  }
  pm_start_as_ok (f, U1, sleeper ("capped"), NULL);

  /* At the cap, replace still works: what it replaces makes room. */
  g_assert_cmpuint (pm_start_as (f, U1, sleeper ("capped"), &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);
  pm_start_as_ok (f, U1, pm_opts ("{'script': <'/bin/sleep'>, 'args': <['1000']>,"
                                  " 'name': <'capped'>, 'replace': <true>,"
                                  " 'stopTimeout': <uint32 50>}"), NULL);
  g_assert_cmpuint (pm_list_count (f), ==, 3);
}

static void
test_cap_default (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  GVariant *opts = sleeper ("many");
  guint done = 0;

  /* The real cap: 1000 sleeping processes of one user, from one client. */
  reply = pm_call_as (f, U1, PM_TEST_PATH, PM_TEST_IFACE, "Start",
                      g_variant_new_tuple (&opts, 1), 1001, &done, &error);
  g_assert_cmpuint (done, ==, 1000);
  pm_assert_remote_error (error, PM_TEST_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);
  g_assert_cmpuint (pm_list_count (f), ==, 1000);

  pm_start_as_ok (f, U2, sleeper ("other"), NULL);
  g_assert_cmpuint (name_call_as (f, U1, "StopAll", NULL, &error), ==, 1000);
  g_assert_no_error (error);
  g_assert_cmpuint (pm_list_count (f), ==, 1);
}

/* ---- a daemon that is not root ------------------------------------------------------ */

static void
test_user_daemon (PmFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = NULL;
  guint32 id, pid;

  /* Root included: it cannot run anyone else's programs. */
  g_assert_cmpuint (pm_start (f, sleeper ("x"), &error), ==, 0);
  pm_assert_remote_error (error, DBUS_ERROR_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_cmpuint (pm_start_as (f, U2, sleeper ("x"), &error), ==, 0);
  pm_assert_remote_error (error, DBUS_ERROR_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_cmpuint (pm_list_count (f), ==, 0);

  /* Its own user: as on a session bus, nothing changes. */
  id = pm_start_as_ok (f, U1, sleeper ("mine"), &pid);
  g_assert_cmpuint (pm_get_uint (f, id, "User"), ==, U1->uid);
  assert_ids (pid, "Uid", U1->uid);
  env = proc_environ (pid);
  g_assert_cmpstr (g_environ_getenv (env, "ELIFE_PM_TEST_MARKER"), ==, "inherited");

  /* The other user sees it, cannot stop it. */
  g_assert_cmpuint (name_call_as (f, U2, "Stop", "mine", &error), ==, 0);
  pm_assert_remote_error (error, PM_TEST_ERROR_NOT_FOUND);
  g_assert_true (pm_pid_alive ((pid_t) pid));
}

/* ---- main ---------------------------------------------------------------------------- */

static void
skip_case (gconstpointer data)
{
  g_test_skip (skip_reason);
}

static void
skip_slow (gconstpointer data)
{
  g_test_skip (data);
}

static void
add (const char *path, PmTestFunc func, const PmFixtureOptions *options)
{
  if (skip_reason != NULL)
    g_test_add_data_func (path, NULL, skip_case);
  else
    pm_test_add_full (path, func, NULL, options);
}

int
main (int argc, char **argv)
{
  int client = pm_test_client_main (argc, argv);

  if (client >= 0)
    return client;

  g_test_init (&argc, &argv, NULL);
  pm_test_init ();
  skip_reason = pm_test_users_init (argc, argv);
  if (skip_reason == NULL)
    user_daemon.daemon_user = U1->name;

  add ("/users/policy/only-root-owns", test_policy_owner, &system_bus);
  add ("/users/run-as/ids-groups-env", test_runs_as_caller, &system_bus);
  add ("/users/run-as/clear-env", test_clear_env, &system_bus);
  add ("/users/files/log-owned", test_log_owned_by_caller, &system_bus);
  add ("/users/files/log-refused", test_log_refused, &system_bus);
  add ("/users/files/log-shared", test_shared_log, &system_bus);
  add ("/users/files/rotation-owned", test_rotation_owned_by_caller, &system_bus);
  add ("/users/files/rotation-refused-as-caller", test_rotation_refused_as_caller, &system_bus);
  add ("/users/files/paths-checked", test_paths_checked_as_caller, &system_bus);
  add ("/users/act/stop-by-name", test_stop_by_name, &system_bus);
  add ("/users/act/restart-by-name", test_restart_by_name, &system_bus);
  add ("/users/act/stop-all", test_stop_all, &system_bus);
  add ("/users/act/object-methods", test_object_methods, &system_bus);
  add ("/users/act/replace", test_replace_own_only, &system_bus);
  add ("/users/act/root-all", test_root_acts_on_all, &system_bus);
  add ("/users/read/open", test_reading_open, &system_bus);
  add ("/users/stop-with-caller", test_stop_with_caller, &system_bus);
  add ("/users/daemon-killed", test_daemon_killed, &system_bus);
  add ("/users/cap/option", test_cap_option, &system_bus_small_cap);
  /* 1000 processes under valgrind would outlast the case's time; the rule
   * itself is the option case's. */
  if (skip_reason == NULL && pm_test_scaled (1000) < 1000)
    g_test_add_data_func ("/users/cap/default-1000",
                          "1000 processes need more time than a slow tool leaves "
                          "(ELIFE_PM_TEST_SLOW); /users/cap/option checks the rule",
                          skip_slow);
  else
    add ("/users/cap/default-1000", test_cap_default, &system_bus);
  add ("/users/non-root-daemon", test_user_daemon, &user_daemon);

  return g_test_run ();
}
