/* test-creds.c — pm-creds without a bus: looking users up, and switching the
 * file-system credentials of one thread while the others keep the daemon's
 * (as root; skipped otherwise). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pm-creds.h"
#include "pm-error.h"

/* The "FIELD:" line of /proc/self/task/TID/status, e.g. "0\t0\t0\t65534". */
static gchar *
task_field (pid_t tid, const char *field)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/self/task/%d/status", (int) tid);
  g_autofree gchar *text = NULL;
  g_autofree gchar *key = g_strdup_printf ("\n%s:", field);
  const char *line, *end;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  line = strstr (text, key);
  g_assert_nonnull (line);
  line += strlen (key);
  end = strchr (line, '\n');
  return g_strstrip (g_strndup (line, end - line));
}

/* The fourth (file-system) id of a Uid: or Gid: line. */
static guint
fs_id (const char *ids)
{
  g_auto(GStrv) v = g_strsplit_set (ids, " \t", -1);
  guint n = 0;

  for (char **p = v; *p; p++)
    if (**p != '\0' && ++n == 4)
      return (guint) g_ascii_strtoull (*p, NULL, 10);
  g_assert_not_reached ();
}

static void
test_lookup (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PmCreds) root = pm_creds_lookup (0, &error);
  g_autoptr(PmCreds) copy = NULL;
  g_autoptr(PmCreds) none = NULL;
  struct passwd *pw = getpwuid (0);

  g_assert_no_error (error);
  g_assert_cmpuint (root->uid, ==, 0);
  g_assert_cmpuint (root->gid, ==, pw->pw_gid);
  g_assert_cmpstr (root->user, ==, pw->pw_name);
  g_assert_cmpstr (root->home, ==, pw->pw_dir);
  g_assert_cmpint (root->n_groups, >=, 1);
  /* initgroups() puts the primary group in the list too. */
  g_assert_cmpuint (root->groups[0], ==, root->gid);

  copy = pm_creds_copy (root);
  g_assert_cmpstr (copy->user, ==, root->user);
  g_assert_cmpint (copy->n_groups, ==, root->n_groups);
  g_assert_true (memcmp (copy->groups, root->groups, sizeof (gid_t) * root->n_groups) == 0);

  /* No passwd entry: nothing can run as it. */
  none = pm_creds_lookup (4000000000u, &error);
  g_assert_null (none);
  g_assert_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED);
}

static void
test_null_is_daemon (void)
{
  PmCredsSaved saved;
  int fd;

  g_assert_true (pm_creds_enter (NULL, &saved));
  g_assert_false (saved.switched);
  pm_creds_leave (&saved);
  fd = pm_open_as (NULL, "/dev/null", O_RDONLY | O_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
}

typedef struct
{
  GMutex lock;
  GCond cond;
  pid_t tid;
  gboolean go_on;
} Other;

static gpointer
other_thread (gpointer data)
{
  Other *o = data;

  g_mutex_lock (&o->lock);
  o->tid = (pid_t) syscall (SYS_gettid);
  g_cond_broadcast (&o->cond);
  while (!o->go_on)
    g_cond_wait (&o->cond, &o->lock);
  g_mutex_unlock (&o->lock);
  return NULL;
}

static void
test_switch_one_thread (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PmCreds) nobody = NULL;
  g_autofree gchar *dir = NULL;
  g_autofree gchar *secret = NULL;
  g_autofree gchar *made = NULL;
  g_autofree gchar *groups_before = NULL;
  pid_t self = (pid_t) syscall (SYS_gettid);
  struct passwd *pw = getpwnam ("nobody");
  PmCredsSaved saved;
  GThread *thread;
  Other o = { 0 };
  int fd;

  if (geteuid () != 0 || pw == NULL)
    {
      g_test_skip ("switching credentials needs root and a user \"nobody\"");
      return;
    }
  nobody = pm_creds_lookup (pw->pw_uid, &error);
  g_assert_no_error (error);

  dir = g_dir_make_tmp ("pm-creds-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  secret = g_build_filename (dir, "secret", NULL);
  g_assert_true (g_file_set_contents (secret, "x", 1, &error));
  g_assert_cmpint (g_chmod (secret, 0600), ==, 0);
  made = g_build_filename (dir, "made", "file", NULL);

  g_mutex_init (&o.lock);
  g_cond_init (&o.cond);
  thread = g_thread_new ("other", other_thread, &o);
  g_mutex_lock (&o.lock);
  while (o.tid == 0)
    g_cond_wait (&o.cond, &o.lock);
  g_mutex_unlock (&o.lock);
  groups_before = task_field (o.tid, "Groups");

  g_assert_true (pm_creds_enter (nobody, &saved));
  {
    g_autofree gchar *uid_self = task_field (self, "Uid");
    g_autofree gchar *gid_self = task_field (self, "Gid");
    g_autofree gchar *uid_other = task_field (o.tid, "Uid");
    g_autofree gchar *groups_other = task_field (o.tid, "Groups");

    /* This thread checks as nobody; the other is still root, groups and all. */
    g_assert_cmpuint (fs_id (uid_self), ==, pw->pw_uid);
    g_assert_cmpuint (fs_id (gid_self), ==, pw->pw_gid);
    g_assert_cmpuint (fs_id (uid_other), ==, 0);
    g_assert_cmpstr (groups_other, ==, groups_before);

    g_assert_cmpint (pm_creds_access (secret, R_OK), ==, -1);
    g_assert_cmpint (errno, ==, EACCES);
  }
  pm_creds_leave (&saved);

  /* Back to root: capabilities and all. */
  g_assert_cmpint (pm_creds_access (secret, R_OK), ==, 0);
  {
    g_autofree gchar *uid_self = task_field (self, "Uid");

    g_assert_cmpuint (fs_id (uid_self), ==, 0);
  }

  /* Opening and creating as nobody: refused, nothing made. */
  fd = pm_open_as (nobody, secret, O_RDONLY | O_CLOEXEC, 0);
  g_assert_cmpint (fd, ==, -1);
  g_assert_cmpint (errno, ==, EACCES);
  g_assert_cmpint (pm_mkdir_as (nobody, made, 0755), ==, -1);
  g_assert_cmpint (errno, ==, EACCES);
  g_assert_false (g_file_test (made, G_FILE_TEST_EXISTS));
  fd = pm_open_as (NULL, secret, O_RDONLY | O_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  close (fd);

  g_mutex_lock (&o.lock);
  o.go_on = TRUE;
  g_cond_broadcast (&o.cond);
  g_mutex_unlock (&o.lock);
  g_thread_join (thread);
  g_mutex_clear (&o.lock);
  g_cond_clear (&o.cond);

  g_unlink (secret);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/creds/lookup", test_lookup);
  g_test_add_func ("/creds/null-is-the-daemon", test_null_is_daemon);
  g_test_add_func ("/creds/switch-one-thread", test_switch_one_thread);
  return g_test_run ();
}
