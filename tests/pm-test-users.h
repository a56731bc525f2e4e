/* pm-test-users.h — for the multi-user tests (run as root): unprivileged
 * test users created for the run and removed after it, and clients that call
 * the daemon as one of them. */
#pragma once

#include "pm-test-util.h"

G_BEGIN_DECLS

typedef struct
{
  gchar *name;
  uid_t uid;
  gid_t gid;      /* its own primary group */
} PmTestUser;

/* Call from main () after g_test_init (): in the test's main process,
 * creates two users (elifepm-t1-PID, elifepm-t2-PID, each with its own group)
 * and a group both belong to (elifepm-g-PID), to be removed at exit (and on
 * SIGTERM/SIGINT/SIGHUP/SIGABRT); in a case's subprocess, finds them. Returns a
 * reason to skip everything (not root, no useradd or setpriv), or NULL. */
const char *pm_test_users_init (int argc, char **argv);
/* Removes them (pm_test_users_init arranges it at exit). */
void pm_test_users_cleanup (void);

/* 0 or 1. */
const PmTestUser *pm_test_user (guint i);
/* The group both users are in, besides their own. */
gid_t pm_test_shared_gid (void);

/* Runs a call of @method on @path (@iface) as @user, in a client process of
 * its own (setpriv, then this test binary in its client mode). Returns the
 * reply, or NULL with the D-Bus error (g_dbus_error_get_remote_error gives
 * its name). With @repeat > 1, the same call that many times on one
 * connection, stopping at the first error; *done (may be NULL) tells how
 * many succeeded; the reply is the last one's. */
GVariant *pm_call_as (PmFixture *f, const PmTestUser *user, const char *path,
                      const char *iface, const char *method, GVariant *params,
                      guint repeat, guint *done, GError **error);
/* Start as @user; the id, or 0 with @error. */
guint32 pm_start_as (PmFixture *f, const PmTestUser *user, GVariant *opts, GError **error);
/* Start as @user, assert success, wait for Started; returns id and *pid_out. */
guint32 pm_start_as_ok (PmFixture *f, const PmTestUser *user, GVariant *opts, guint32 *pid_out);

/* The client mode: main () calls this first; it returns -1 unless argv asks
 * for the client mode, else the exit status to return. */
int pm_test_client_main (int argc, char **argv);

G_END_DECLS
