/* main.c — elife-pmd: options, bus, signals, main loop.
 *
 * Order matters: SIGCHLD is blocked before any thread exists (the reaper
 * reads it from a signalfd), and the objects are exported before the name
 * is owned, so that a client activated by the name finds them at once.
 */
#include "config.h"

#define G_LOG_DOMAIN "elife-pmd"

#include <fcntl.h>
#include <locale.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gi18n.h>

#include "pm-error.h"
#include "pm-log.h"
#include "pm-manager.h"
#include "pm-names.h"
#include "pm-notify.h"
#include "pm-reaper.h"
#include "pm-spawn.h"
#include "pm-state.h"

typedef struct
{
  GMainLoop       *loop;
  GDBusConnection *connection;
  PmManager       *manager;
  guint            owner_id;
  gboolean         name_acquired;
  gboolean         name_lost;
  gboolean         shutting_down;
  int              exit_status;
} Daemon;

static GLogWriterOutput
log_to_stderr (GLogLevelFlags   log_level,
               const GLogField *fields,
               gsize            n_fields,
               gpointer         user_data)
{
  const char *domain = NULL;
  g_autofree char *line = NULL;

  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
      domain = fields[i].value;

  if (g_log_writer_default_would_drop (log_level, domain))
    return G_LOG_WRITER_HANDLED;

  /* Standard output carries the children's lines, in whole batches: the
   * daemon's own messages never go there. */
  line = g_log_writer_format_fields (log_level, fields, n_fields, FALSE);
  fprintf (stderr, "%s\n", line);
  return G_LOG_WRITER_HANDLED;
}

static void
on_shutdown_done (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Daemon *daemon = user_data;

  pm_manager_shutdown_finish (PM_MANAGER (source), result, NULL);
  g_debug ("All processes stopped; exiting");
  g_main_loop_quit (daemon->loop);
}

static void
daemon_shutdown (Daemon     *daemon,
                 const char *why)
{
  if (daemon->shutting_down)
    return;
  daemon->shutting_down = TRUE;
  g_debug ("Shutting down: %s", why);
  pm_manager_shutdown_async (daemon->manager, on_shutdown_done, daemon);
}

static gboolean
on_sigterm (gpointer user_data)
{
  daemon_shutdown (user_data, "SIGTERM or SIGINT");
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sighup (gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!pm_log_reopen_all (&error))
    g_message ("%s", error->message);
  return G_SOURCE_CONTINUE;
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  Daemon *daemon = user_data;

  daemon->name_acquired = TRUE;
  g_debug ("Owning %s", name);
  /* Only the owner of the name may clean up after dead instances: a second
   * daemon that does not get it touches nothing. */
  pm_state_claim ();
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  Daemon *daemon = user_data;

  if (!daemon->name_acquired)
    {
      if (connection == NULL || g_dbus_connection_is_closed (connection))
        g_printerr (_("elife-pmd: lost the connection to the bus before owning %s\n"), name);
      else
        g_printerr (_("elife-pmd: %s is already owned on this bus (use --replace to take it over)\n"),
                    name);
      daemon->exit_status = 1;
      g_main_loop_quit (daemon->loop);
      return;
    }
  daemon->name_lost = TRUE;
  daemon_shutdown (daemon, "the bus name was lost");
}

static void
on_connection_closed (GDBusConnection *connection,
                      gboolean         remote_peer_vanished,
                      GError          *error,
                      gpointer         user_data)
{
  daemon_shutdown (user_data, "the bus connection was closed");
}

static GDBusConnection *
connect_bus (const char *address,
             gboolean    system_bus,
             GError    **error)
{
  if (address != NULL)
    return g_dbus_connection_new_for_address_sync (address,
                                                   G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                   NULL, NULL, error);
  return g_bus_get_sync (system_bus ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION, NULL, error);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *state_key = NULL;
  g_autofree char *self_exe = NULL;
  gboolean session_bus = FALSE, system_bus = FALSE;
  gboolean replace = FALSE, verbose = FALSE, version = FALSE;
  int max_per_user = PM_MAX_PROCESSES_PER_USER;
  Daemon daemon = { 0 };
  const GOptionEntry entries[] = {
    { "session", 0, 0, G_OPTION_ARG_NONE, &session_bus,
      N_("Use the session bus (the default)"), NULL },
    { "system", 0, 0, G_OPTION_ARG_NONE, &system_bus,
      N_("Use the system bus"), NULL },
    { "address", 0, 0, G_OPTION_ARG_STRING, &address,
      N_("Use the bus at ADDRESS"), N_("ADDRESS") },
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace,
      N_("Take the bus name over from a running instance"), NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
      N_("Print debugging messages"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
      N_("Where to record children for cleanup after a crash "
         "(default: $XDG_RUNTIME_DIR/elife-pm, /run/elife-pm with --system)"), N_("DIR") },
    { "max-per-user", 0, 0, G_OPTION_ARG_INT, &max_per_user,
      N_("At most N processes for each user other than root and the daemon's own "
         "(default: 1000)"), N_("N") },
    { NULL }
  };

  /* Descriptors 0-2 must exist, or a pipe could land there and be
   * clobbered when a child's standard streams are set up. */
  for (int fd = 0; fd < 3; fd++)
    if (fcntl (fd, F_GETFD) < 0)
      open ("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);

  /* The watchdog is this binary too: a few KiB, no GLib main loop. */
  if (argc == 2 && g_str_equal (argv[1], "--watchdog"))
    return pm_state_watchdog_main (3);

  /* GLib 2.74 reads G_SLICE when it loads, before main(): its slice
   * magazines keep what a burst of D-Bus traffic allocated, for ever. With
   * plain malloc the heap can be trimmed after a burst, so the daemon's
   * memory follows its load. One exec at start-up buys that. */
  if (g_getenv ("G_SLICE") == NULL)
    {
      /* The real path, so that ps and the journal still say elife-pmd. */
      g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);

      g_setenv ("G_SLICE", "always-malloc", TRUE);
      g_setenv ("ELIFE_PMD_SET_G_SLICE", "1", TRUE);
      execv (exe != NULL ? exe : "/proc/self/exe", argv);
      /* Not fatal: only memory after bursts is at stake. */
      g_unsetenv ("G_SLICE");
      g_unsetenv ("ELIFE_PMD_SET_G_SLICE");
    }
  else if (g_getenv ("ELIFE_PMD_SET_G_SLICE") != NULL)
    {
      /* Ours, not the children's business. */
      g_unsetenv ("G_SLICE");
      g_unsetenv ("ELIFE_PMD_SET_G_SLICE");
    }

  /* Log batches and the read buffer (a few MiB while children flood their
   * logs, nothing once they are quiet) come straight from the kernel and go
   * back to it when freed: glibc would otherwise raise its mmap threshold
   * after the first free and keep them in the heap. */
  mallopt (M_MMAP_THRESHOLD, 256 * 1024);

  setlocale (LC_ALL, "");
  /* ELIFE_PM_LOCALEDIR: the translations of a build tree (tests). */
  bindtextdomain (GETTEXT_PACKAGE, g_getenv ("ELIFE_PM_LOCALEDIR") ? g_getenv ("ELIFE_PM_LOCALEDIR")
                                                                    : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_log_set_writer_func (log_to_stderr, NULL, NULL);
  /* Before anything can start a thread. */
  if (!pm_reaper_init (&error))
    {
      g_printerr ("elife-pmd: %s\n", error->message);
      return 1;
    }
  signal (SIGPIPE, SIG_IGN);
  /* Before the bus and the watchdog take descriptors: the spawn slots
   * should be low. */
  if (!pm_spawn_init (&error))
    {
      g_printerr ("elife-pmd: %s\n", error->message);
      return 1;
    }

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
                                _("Starts, watches, restarts and stops helper processes for the "
                                  "applications that ask for them over D-Bus."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("elife-pmd: %s\n", error->message);
      return 2;
    }

  if (version)
    {
      g_print ("elife-pmd %s\n", PACKAGE_VERSION);
      return 0;
    }
  if ((session_bus + system_bus + (address != NULL)) > 1)
    {
      g_printerr ("elife-pmd: %s\n", _("--session, --system and --address exclude each other"));
      return 2;
    }
  if (max_per_user < 0 || max_per_user > PM_MAX_PROCESSES)
    {
      g_printerr ("elife-pmd: %s\n", _("--max-per-user must be between 0 and 10000"));
      return 2;
    }
  if (verbose)
    g_log_set_debug_enabled (TRUE);

  /* Register the D-Bus error names before anyone can be answered. */
  (void) PM_ERROR;

  if (state_dir == NULL)
    state_dir = system_bus ? g_strdup ("/run/elife-pm")
                           : g_build_filename (g_get_user_runtime_dir (), "elife-pm", NULL);
  if (address != NULL)
    {
      g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, address, -1);
      state_key = g_strdup_printf ("address-%.16s", sum);
    }
  else
    state_key = g_strdup (system_bus ? "system" : "session");
  pm_state_init (state_dir, state_key);
  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  if (!pm_state_start_watchdog (self_exe ? self_exe : "/proc/self/exe", &error))
    {
      g_message ("No watchdog: %s", error->message);
      g_clear_error (&error);
    }

  daemon.connection = connect_bus (address, system_bus, &error);
  if (daemon.connection == NULL)
    {
      g_printerr (_("elife-pmd: cannot connect to the bus: %s\n"), error->message);
      return 1;
    }
  g_dbus_connection_set_exit_on_close (daemon.connection, FALSE);

  daemon.loop = g_main_loop_new (NULL, FALSE);
  daemon.manager = pm_manager_new (daemon.connection);
  pm_manager_set_max_per_user (daemon.manager, (guint) max_per_user);
  if (!pm_manager_export (daemon.manager, &error))
    {
      g_printerr ("elife-pmd: %s\n", error->message);
      return 1;
    }

  g_signal_connect (daemon.connection, "closed", G_CALLBACK (on_connection_closed), &daemon);
  g_unix_signal_add (SIGTERM, on_sigterm, &daemon);
  g_unix_signal_add (SIGINT, on_sigterm, &daemon);
  g_unix_signal_add (SIGHUP, on_sighup, &daemon);

  daemon.owner_id = g_bus_own_name_on_connection (daemon.connection, PM_DBUS_NAME,
                                                  G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
                                                  G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE |
                                                  (replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
                                                  on_name_acquired, on_name_lost,
                                                  &daemon, NULL);

  g_main_loop_run (daemon.loop);

  /* Releasing a name we no longer own makes the bus answer "not owner". */
  if (!daemon.name_lost && !g_dbus_connection_is_closed (daemon.connection))
    g_clear_handle_id (&daemon.owner_id, g_bus_unown_name);
  pm_manager_unexport (daemon.manager);
  if (!g_dbus_connection_is_closed (daemon.connection))
    g_dbus_connection_flush_sync (daemon.connection, NULL, NULL);
  g_clear_object (&daemon.manager);
  g_clear_object (&daemon.connection);
  g_clear_pointer (&daemon.loop, g_main_loop_unref);
  pm_log_shutdown ();
  pm_notify_shutdown ();
  pm_state_shutdown ();
  pm_reaper_shutdown ();
  return daemon.exit_status;
}
