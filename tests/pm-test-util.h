/* pm-test-util.h — harness for the integration tests: a private bus, the real
 * elife-pmd on it, a recorder of its signals and of its stdout, and helpers
 * that wait on the main context with a timeout instead of sleeping. */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

G_BEGIN_DECLS

#define PM_TEST_BUS_NAME      "org.elife.ProcessManager"
#define PM_TEST_PATH          "/org/elife/ProcessManager"
#define PM_TEST_IFACE         "org.elife.ProcessManager"
#define PM_TEST_PROCESS_IFACE "org.elife.ProcessManager.Process"
#define PM_TEST_ERROR_NOT_FOUND    "org.elife.ProcessManager.Error.NotFound"
#define PM_TEST_ERROR_SPAWN_FAILED "org.elife.ProcessManager.Error.SpawnFailed"
#define PM_TEST_ERROR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"

/* The version meson gives the project (meson.build: version). */
#define PM_TEST_EXPECTED_VERSION "0.1.0"

/* Default timeout for a method call or a wait, in milliseconds: generous
 * (30 s, times ELIFE_PM_TEST_SLOW), since a loaded machine or a tool like
 * valgrind may be slow. Behaviour is checked, never speed. */
#define PM_TEST_TIMEOUT_MS (pm_test_timeout_ms ())
guint pm_test_timeout_ms (void);

/* One signal seen on the bus. */
typedef struct
{
  gint64 time_us;       /* g_get_monotonic_time () when it was dispatched */
  gchar *signal;        /* "Started", "Stopping", "Exited", "PropertiesChanged", ... */
  gchar *path;          /* object path it was emitted on */
  guint32 id;
  gchar *name;
  guint32 pid;
  gint32 exit_code;     /* Exited only */
  gint32 term_signal;   /* Exited only */
  GVariant *params;     /* the whole parameters tuple */
} PmSignal;

/* One line the daemon printed on its stdout. */
typedef struct
{
  gint64 time_us;
  gchar *text;
} PmLine;

/* How a case's bus and daemon are set up (pm_test_add_full); all-zero is
 * what pm_test_add gives: a GTestDBus session bus, the daemon as the test. */
typedef struct
{
  /* A dbus-daemon configured like the system bus (tools/system-bus.conf.in)
   * with the project's policy file, every user allowed to connect. */
  gboolean system_bus;
  /* A dbus-daemon every user may connect to, call on and own names on. */
  gboolean open_bus;
  /* Run elife-pmd as this user (setpriv), NULL: as the test. */
  const char *daemon_user;
  /* More daemon arguments, NULL-terminated, or NULL. */
  const char * const *daemon_args;
} PmFixtureOptions;

typedef struct
{
  GTestDBus *bus;
  GSubprocess *bus_daemon;        /* a dbus-daemon of our own (system_bus, open_bus) */
  gchar *address;
  GDBusConnection *conn;
  GSubprocess *daemon;
  gboolean daemon_exited;
  gint daemon_wait_status;        /* g_subprocess_get_status once exited */
  GDataInputStream *daemon_stdout;
  GCancellable *cancellable;
  gboolean stdout_eof;
  gchar *tmpdir;                  /* removed on teardown */
  GPtrArray *signals;             /* PmSignal* */
  GPtrArray *lines;               /* PmLine* */
  GArray *pids;                   /* pid_t the test learned: asserted dead at teardown */
  guint sub_manager;
  guint sub_props;
  guint sub_objmgr;
} PmFixture;

/* Call from main () after g_test_init (): sets up the per-case isolation. */
void pm_test_init (void);

/* Register a case: it runs in its own subprocess with a fresh bus and daemon,
 * so one failing case neither aborts the others nor leaks processes. */
typedef void (*PmTestFunc) (PmFixture *f, gconstpointer data);
void pm_test_add (const char *path, PmTestFunc func, gconstpointer data);
/* The same, with @options (copied only as a pointer: keep it static). */
void pm_test_add_full (const char *path, PmTestFunc func, gconstpointer data,
                       const PmFixtureOptions *options);

/* Fixture life cycle (pm_test_add does both). */
PmFixture *pm_fixture_new (void);
PmFixture *pm_fixture_new_full (const PmFixtureOptions *options);
void pm_fixture_free (PmFixture *f);
/* SIGTERM to the daemon, wait for it to exit 0 (asserted). Idempotent. */
void pm_fixture_stop_daemon (PmFixture *f);

/* Iterate the default main context until cond(data) is true or timeout_ms
 * passes; returns whether cond became true. A timeout_ms above 0 is at
 * least PM_TEST_WAIT_FLOOR_MS: what takes milliseconds on a quiet machine
 * may take seconds on a loaded one under a sanitizer, and a wait ends as
 * soon as its condition holds, so a passing test pays nothing for it. Only
 * a wait that is meant to run out (none is) would. 0 looks at what has
 * arrived. */
#define PM_TEST_WAIT_FLOOR_MS (10000 * pm_test_slow_factor ())
typedef gboolean (*PmCondFunc) (gpointer data);
gboolean pm_wait_for (PmCondFunc cond, gpointer data, guint timeout_ms);
/* Waits for the string property @prop of process @id to be @value; fails
 * the test, naming what it is, after PM_TEST_TIMEOUT_MS. */
void pm_wait_string (PmFixture *f, guint32 id, const char *prop, const char *value);
/* pm_wait_string() of State. */
void pm_wait_state (PmFixture *f, guint32 id, const char *state);
/* Iterate the main context for ms milliseconds (for "nothing happens" checks). */
void pm_iterate_for (guint ms);

/* Method calls, with a timeout, main-context driven (signals keep being
 * recorded with accurate times while waiting for the reply). */
GVariant *pm_call_full (PmFixture *f, const char *path, const char *iface,
                        const char *method, GVariant *params,
                        const GVariantType *reply_type, guint timeout_ms,
                        GError **error);
GVariant *pm_call (PmFixture *f, const char *method, GVariant *params,
                   const char *reply_type, GError **error);

/* A call whose reply is awaited later (e.g. to look at a process while it
 * is being stopped). pm_call_end waits for the reply and frees the handle. */
typedef struct _PmPendingCall PmPendingCall;
PmPendingCall *pm_call_begin (PmFixture *f, const char *path, const char *iface,
                              const char *method, GVariant *params,
                              const char *reply_type);
gboolean pm_call_is_done (PmPendingCall *call);
/* g_get_monotonic_time () when the reply arrived (0 while pending). */
gint64 pm_call_reply_time (PmPendingCall *call);
GVariant *pm_call_end (PmPendingCall *call, GError **error);

/* a{sv} options from g_variant_new_parsed () text, e.g.
 * pm_opts ("{'script': <%s>, 'stopTimeout': <uint32 300>}", path). */
GVariant *pm_opts (const char *format, ...);

/* Start; returns the id, or 0 with error set. */
guint32 pm_start (PmFixture *f, GVariant *opts, GError **error);
/* Start, assert success, wait for its Started signal; returns id, *pid_out. */
guint32 pm_start_ok (PmFixture *f, GVariant *opts, guint32 *pid_out);
guint32 pm_stop (PmFixture *f, const char *name, GError **error);
guint32 pm_restart (PmFixture *f, const char *name, GError **error);
guint32 pm_stop_all (PmFixture *f, GError **error);
/* List as a(ususu), owned by the caller. */
GVariant *pm_list (PmFixture *f);
/* Number of entries in List; and the state and pid of one id (NULL/0 if not listed). */
guint pm_list_count (PmFixture *f);
gboolean pm_list_lookup (PmFixture *f, guint32 id, gchar **name, guint32 *pid,
                         gchar **state, guint32 *restarts);
/* GetManagedObjects reply a{oa{sa{sv}}}. */
GVariant *pm_managed_objects (PmFixture *f);

gchar *pm_process_path (guint32 id);
/* Properties.Get on a process object; NULL with error when it fails. */
GVariant *pm_get_property (PmFixture *f, guint32 id, const char *prop, GError **error);
gchar *pm_get_string (PmFixture *f, guint32 id, const char *prop);
guint32 pm_get_uint (PmFixture *f, guint32 id, const char *prop);
gint32 pm_get_int (PmFixture *f, guint32 id, const char *prop);
guint64 pm_get_u64 (PmFixture *f, guint32 id, const char *prop);
/* Waits until the uint64 property @prop of @id is above @above (a count:
 * LostLines, LogRotations); returns it, or fails the test naming it. */
guint64 pm_wait_u64_above (PmFixture *f, guint32 id, const char *prop, guint64 above,
                           guint timeout_ms);

/* Signals. `id` 0 matches any id. The index form returns the index in
 * f->signals at or after `from`, -1 when none. */
gint pm_find_signal (PmFixture *f, guint from, const char *signal, guint32 id);
PmSignal *pm_wait_for_signal (PmFixture *f, const char *signal, guint32 id,
                              guint timeout_ms);
/* Wait for the n-th (1-based) signal of that kind for that id. */
PmSignal *pm_wait_for_nth_signal (PmFixture *f, const char *signal, guint32 id,
                                  guint n, guint timeout_ms);
guint pm_count_signals (PmFixture *f, const char *signal, guint32 id);

/* Daemon stdout. Waits for a line exactly equal to `text`. */
gboolean pm_wait_for_line (PmFixture *f, const char *text, guint timeout_ms);
gboolean pm_has_line (PmFixture *f, const char *text);

/* Whether the daemon's RSS means anything: not under valgrind
 * (ELIFE_PMD_WRAPPER) nor a sanitizer build (ELIFE_PM_TEST_SANITIZED), whose
 * shadow memory and quarantine dwarf ours. Memory checks are skipped then. */
gboolean pm_test_rss_meaningful (void);

/* Numbers for the log: g_test_message is swallowed with the stdout of a
 * passing case's subprocess, so they go to stderr too. */
void pm_report (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* The daemon's pid, its open descriptors and its VmRSS in KiB, from /proc. */
pid_t pm_daemon_pid (PmFixture *f);
guint pm_count_fds (pid_t pid);
gsize pm_rss_kib (pid_t pid);

/* @n divided by ELIFE_PM_TEST_SLOW (set by the valgrind setup), at least 1:
 * load tests keep their shape under a slow tool with fewer rounds. */
guint pm_test_scaled (guint n);
/* ELIFE_PM_TEST_SLOW, at least 1. */
guint pm_test_slow_factor (void);
/* An upper bound for a duration that only has to tell "at once" from "after
 * a timeout" or "after a longer delay": @ms times ELIFE_PM_TEST_SLOW, and
 * times 4 in a sanitizer build, so that a loaded machine cannot fail it.
 * Speed itself is measured in bench/, never asserted. */
gint64 pm_test_bound_ms (gint64 ms);

/* Processes. */
gboolean pm_pid_alive (pid_t pid);
void pm_track_pid (PmFixture *f, pid_t pid);
gboolean pm_wait_pid_dead (pid_t pid, guint timeout_ms);
/* Fails the case unless pid is dead (within timeout_ms); a survivor is
 * SIGKILLed first, so a failing case leaves nothing behind. */
#define pm_assert_pid_dead(pid, timeout_ms) \
  pm_assert_pid_dead_impl ((pid), (timeout_ms), G_STRLOC)
void pm_assert_pid_dead_impl (pid_t pid, guint timeout_ms, const char *where);

/* Files in the fixture's temp dir. */
gchar *pm_tmp_path (PmFixture *f, const char *name);
gboolean pm_wait_for_file (const char *path, guint timeout_ms);
/* Reads a file written by a child; NULL when missing. */
gchar *pm_read_file (const char *path);
/* Reads a pid written by a child (waits for the file). */
pid_t pm_read_pid_file (const char *path, guint timeout_ms);
/* Writes a script into the temp dir with the given mode; returns its path. */
gchar *pm_write_script (PmFixture *f, const char *name, const char *text, int mode);
/* tests/data/NAME */
const gchar *pm_data_file (const char *name);

/* Assertion helpers. */
#define pm_assert_remote_error(err, dbus_name)                                   \
  G_STMT_START {                                                                \
    g_assert_nonnull (err);                                                     \
    g_autofree gchar *_remote = g_dbus_error_get_remote_error (err);            \
    if (g_strcmp0 (_remote, (dbus_name)) != 0)                                  \
      g_error ("expected D-Bus error %s, got %s: %s", (dbus_name),              \
               _remote ? _remote : "(none)", (err)->message);                    \
  } G_STMT_END

G_END_DECLS
