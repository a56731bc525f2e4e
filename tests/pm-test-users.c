/* pm-test-users.c — test users and clients that run as them.
 *
 * The users exist only for one run of one test binary: created by its main
 * process before the cases, removed when it exits, even when a case fails
 * (cases run in subprocesses) or the run is interrupted. A client runs as a
 * user the way a user's program would: a process of its own, with that
 * user's uid, gid and groups (setpriv --init-groups), here this same test
 * binary in a client mode, so that no GDBus connection is used after a
 * fork. */
#include "pm-test-users.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLIENT_FLAG "--pm-client"
#define USERS_ENV   "ELIFE_PM_TEST_USERS"

static PmTestUser users[2];
static gchar *group_name;
static gid_t shared_gid;
static gboolean created;
static char *self_exe;

/* Built beforehand for the signal handler, which may only fork and exec:
 * userdel NAME1, userdel NAME2, groupdel GROUP. */
static char *del_argv[3][3];

static gboolean
run_tool (const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *err = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (gchar **) argv, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, &err, &status, &error))
    {
      g_printerr ("# %s: %s\n", argv[0], error->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_printerr ("# %s %s failed: %s\n", argv[0], argv[1], err);
      return FALSE;
    }
  return TRUE;
}

static void
delete_all_raw (void)
{
  for (int i = 0; i < 3; i++)
    {
      pid_t pid;

      if (del_argv[i][0] == NULL)
        continue;
      pid = fork ();
      if (pid == 0)
        {
          int null = open ("/dev/null", O_WRONLY);

          dup2 (null, 1);
          dup2 (null, 2);
          execv (del_argv[i][0], del_argv[i]);
          _exit (127);
        }
      if (pid > 0)
        while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
          ;
    }
}

static void
on_interrupt (int sig)
{
  delete_all_raw ();
  signal (sig, SIG_DFL);
  raise (sig);
}

void
pm_test_users_cleanup (void)
{
  if (!created)
    return;
  created = FALSE;
  delete_all_raw ();
  for (int i = 0; i < 2; i++)
    if (getpwnam (users[i].name) != NULL)
      g_printerr ("# test user %s could not be removed\n", users[i].name);
}

static const char *
find_tool (const char *name)
{
  static const char * const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };

  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree gchar *path = g_build_filename (dirs[i], name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
        return g_intern_string (path);
    }
  return NULL;
}

static gboolean
lookup_users (void)
{
  struct group *gr = getgrnam (group_name);

  if (gr == NULL)
    return FALSE;
  shared_gid = gr->gr_gid;
  for (int i = 0; i < 2; i++)
    {
      struct passwd *pw = getpwnam (users[i].name);

      if (pw == NULL)
        return FALSE;
      users[i].uid = pw->pw_uid;
      users[i].gid = pw->pw_gid;
    }
  return TRUE;
}

/* Whether @path can be executed by someone who is not root: the test binary
 * and the daemon must be, for clients and daemons run as the users. */
static gboolean
others_may_exec (const char *path)
{
  g_autofree gchar *dir = g_strdup (path);

  for (;;)
    {
      struct stat st;
      char *slash;

      if (stat (dir, &st) < 0 || !(st.st_mode & S_IXOTH))
        return FALSE;
      slash = strrchr (dir, '/');
      if (slash == NULL || slash == dir)
        return TRUE;
      *slash = '\0';
    }
}

const char *
pm_test_users_init (int argc, char **argv)
{
  const char *useradd = find_tool ("useradd");
  const char *userdel = find_tool ("userdel");
  const char *groupadd = find_tool ("groupadd");
  const char *groupdel = find_tool ("groupdel");
  const char *pmd = g_getenv ("ELIFE_PMD");
  const char *known = g_getenv (USERS_ENV);
  g_autofree gchar *setpriv = g_find_program_in_path ("setpriv");
  g_autofree gchar *dbus_daemon = g_find_program_in_path ("dbus-daemon");

  if (geteuid () != 0)
    return "the multi-user tests need root (to create test users and run the daemon as root)";
  if (useradd == NULL || userdel == NULL || groupadd == NULL || groupdel == NULL ||
      setpriv == NULL || dbus_daemon == NULL)
    return "useradd, userdel, groupadd, groupdel, setpriv and dbus-daemon are needed";
  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  if (self_exe == NULL || !others_may_exec (self_exe) ||
      (pmd != NULL && !others_may_exec (pmd)))
    return "the test binary and elife-pmd must be executable by other users "
           "(the build directory is not reachable for them)";

  if (known != NULL)
    {
      /* A case's subprocess: its parent made them. */
      g_auto(GStrv) names = g_strsplit (known, ":", 3);

      g_assert_cmpuint (g_strv_length (names), ==, 3);
      users[0].name = g_strdup (names[0]);
      users[1].name = g_strdup (names[1]);
      group_name = g_strdup (names[2]);
      if (!lookup_users ())
        g_error ("the test users %s are gone", known);
      return NULL;
    }

  group_name = g_strdup_printf ("elifepm-g-%d", (int) getpid ());
  for (int i = 0; i < 2; i++)
    users[i].name = g_strdup_printf ("elifepm-t%d-%d", i + 1, (int) getpid ());

  del_argv[0][0] = (char *) userdel;
  del_argv[0][1] = users[0].name;
  del_argv[1][0] = (char *) userdel;
  del_argv[1][1] = users[1].name;
  del_argv[2][0] = (char *) groupdel;
  del_argv[2][1] = group_name;
  created = TRUE;
  atexit (pm_test_users_cleanup);
  signal (SIGTERM, on_interrupt);
  signal (SIGINT, on_interrupt);
  signal (SIGHUP, on_interrupt);
  signal (SIGABRT, on_interrupt);

  {
    const char * const gargv[] = { groupadd, group_name, NULL };

    if (!run_tool (gargv))
      g_error ("could not create the test group %s", group_name);
  }
  for (int i = 0; i < 2; i++)
    {
      g_autofree gchar *home = g_strdup_printf ("/nonexistent/%s", users[i].name);
      const char * const uargv[] = {
        useradd, "--no-create-home", "--user-group", "--home-dir", home,
        "--shell", "/bin/sh", "--groups", group_name, users[i].name, NULL
      };

      if (!run_tool (uargv))
        g_error ("could not create the test user %s", users[i].name);
    }
  if (!lookup_users ())
    g_error ("the test users were created but cannot be found");

  {
    g_autofree gchar *value = g_strdup_printf ("%s:%s:%s", users[0].name, users[1].name,
                                               group_name);
    g_setenv (USERS_ENV, value, TRUE);
  }
  g_printerr ("# test users %s (%u) and %s (%u), group %s (%u)\n",
              users[0].name, (guint) users[0].uid, users[1].name, (guint) users[1].uid,
              group_name, (guint) shared_gid);
  return NULL;
}

const PmTestUser *
pm_test_user (guint i)
{
  g_assert_cmpuint (i, <, 2);
  g_assert_nonnull (users[i].name);
  return &users[i];
}

gid_t
pm_test_shared_gid (void)
{
  return shared_gid;
}

/* ---- the client -------------------------------------------------------- */

/* argv: --pm-client ADDRESS PATH IFACE METHOD PARAMS REPEAT. Prints one line
 * the last reply, "OK <reply>", or the first error, "ERR <D-Bus error name>
 * <message>" (it stops there), then "DONE <calls that succeeded>". */
int
pm_test_client_main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) conn = NULL;
  g_autoptr(GVariant) params = NULL;
  guint repeat, i;

  if (argc < 2 || strcmp (argv[1], CLIENT_FLAG) != 0)
    return -1;
  if (argc != 8)
    {
      fprintf (stderr, "usage: %s " CLIENT_FLAG " ADDRESS PATH IFACE METHOD PARAMS REPEAT\n",
               argv[0]);
      return 2;
    }
  conn = g_dbus_connection_new_for_address_sync (argv[2],
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                 NULL, NULL, &error);
  if (conn == NULL)
    {
      printf ("ERR org.freedesktop.DBus.Error.Failed %s\n", error->message);
      return 0;
    }
  if (*argv[6] != '\0')
    {
      params = g_variant_parse (NULL, argv[6], NULL, NULL, &error);
      if (params == NULL)
        {
          fprintf (stderr, "bad parameters %s: %s\n", argv[6], error->message);
          return 2;
        }
    }
  repeat = (guint) g_ascii_strtoull (argv[7], NULL, 10);
  for (i = 0; i < MAX (repeat, 1); i++)
    {
      g_autoptr(GVariant) reply = NULL;

      reply = g_dbus_connection_call_sync (conn, PM_TEST_BUS_NAME, argv[3], argv[4], argv[5],
                                           params, NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                           PM_TEST_TIMEOUT_MS, NULL, &error);
      if (reply == NULL)
        {
          g_autofree gchar *name = g_dbus_error_get_remote_error (error);

          g_dbus_error_strip_remote_error (error);
          printf ("ERR %s %s\n", name ? name : "org.freedesktop.DBus.Error.Failed",
                  error->message);
          break;
        }
      if (i + 1 == MAX (repeat, 1))
        {
          g_autofree gchar *text = g_variant_print (reply, TRUE);

          printf ("OK %s\n", text);
        }
    }
  printf ("DONE %u\n", i);
  fflush (stdout);
  g_dbus_connection_flush_sync (conn, NULL, NULL);
  return 0;
}

typedef struct
{
  gboolean done;
  gchar *out;
  gchar *err;
  GError *error;
} ClientWait;

static void
on_client_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  ClientWait *w = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), res, &w->out, &w->err,
                                        &w->error);
  w->done = TRUE;
}

static gboolean
client_done_cond (gpointer data)
{
  return ((ClientWait *) data)->done;
}

GVariant *
pm_call_as (PmFixture *f, const PmTestUser *user, const char *path, const char *iface,
            const char *method, GVariant *params, guint repeat, guint *done, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GSubprocess) client = NULL;
  g_autofree gchar *reuid = g_strdup_printf ("--reuid=%u", (guint) user->uid);
  g_autofree gchar *regid = g_strdup_printf ("--regid=%u", (guint) user->gid);
  g_autofree gchar *params_text = NULL;
  g_autofree gchar *repeat_text = g_strdup_printf ("%u", repeat);
  g_auto(GStrv) lines = NULL;
  ClientWait w = { 0 };
  GVariant *reply = NULL;
  guint ok = 0;

  if (params != NULL)
    {
      g_variant_ref_sink (params);
      params_text = g_variant_print (params, TRUE);
      g_variant_unref (params);
    }
  client = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                             &local_error, "setpriv", reuid, regid, "--init-groups",
                             "--pdeathsig=KILL", self_exe, CLIENT_FLAG, f->address, path,
                             iface, method, params_text ? params_text : "", repeat_text, NULL);
  g_assert_no_error (local_error);
  g_subprocess_communicate_utf8_async (client, NULL, NULL, on_client_done, &w);
  if (!pm_wait_for (client_done_cond, &w, PM_TEST_TIMEOUT_MS * (repeat > 1 ? 6 : 2)))
    {
      g_subprocess_force_exit (client);
      g_error ("client %s.%s as %s did not finish", iface, method, user->name);
    }
  g_assert_no_error (w.error);
  if (!g_spawn_check_wait_status (g_subprocess_get_status (client), NULL))
    g_error ("client %s.%s as %s failed: %s", iface, method, user->name, w.err);

  lines = g_strsplit (w.out, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      if (g_str_has_prefix (*l, "DONE "))
        ok = (guint) g_ascii_strtoull (*l + 5, NULL, 10);
      else if (g_str_has_prefix (*l, "OK "))
        {
          g_clear_pointer (&reply, g_variant_unref);
          reply = g_variant_parse (NULL, *l + 3, NULL, NULL, &local_error);
          g_assert_no_error (local_error);
        }
      else if (g_str_has_prefix (*l, "ERR "))
        {
          g_auto(GStrv) parts = g_strsplit (*l + 4, " ", 2);
          GError *remote = g_dbus_error_new_for_dbus_error (parts[0], parts[1] ? parts[1] : "");

          g_test_message ("%s.%s as %s → %s: %s", iface, method, user->name, parts[0],
                          parts[1] ? parts[1] : "");
          g_propagate_error (error, remote);
        }
    }
  g_free (w.out);
  g_free (w.err);
  if (done != NULL)
    *done = ok;
  return reply;
}

guint32
pm_start_as (PmFixture *f, const PmTestUser *user, GVariant *opts, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 id = 0;

  reply = pm_call_as (f, user, PM_TEST_PATH, PM_TEST_IFACE, "Start",
                      g_variant_new_tuple (&opts, 1), 1, NULL, error);
  if (reply == NULL)
    return 0;
  g_variant_get (reply, "(u)", &id);
  return id;
}

guint32
pm_start_as_ok (PmFixture *f, const PmTestUser *user, GVariant *opts, guint32 *pid_out)
{
  g_autoptr(GError) error = NULL;
  guint32 id = pm_start_as (f, user, opts, &error);
  PmSignal *s;

  g_assert_no_error (error);
  g_assert_cmpuint (id, >, 0);
  s = pm_wait_for_signal (f, "Started", id, PM_TEST_TIMEOUT_MS);
  g_assert_nonnull (s);
  if (pid_out != NULL)
    *pid_out = s->pid;
  return id;
}
